-- The active source records of the persons in scope (merge_persons), for person_attributes.sql.
-- A table of its own, analysed, so the joins on it get plans fitting its real size. Unless every
-- person is in scope (whole), the records' ids go to each arm of the union as an index condition
-- (= any of an array): a join alone builds every arm's rows, and reads every payload, first.
-- write: temp
with ids as (
    select i.person_id, i.source, i.entity, i.source_record_id
    from core.person_identity as i
    where i.is_active and i.person_id in (select person_id from merge_persons)
)

select ids.person_id, r.*
from ids
inner join staging.int_person_records as r
    on ids.source = r.source and ids.entity = r.entity and ids.source_record_id = r.record_id
where cast(:whole as boolean) or r.record_id = any(array(select source_record_id from ids))
