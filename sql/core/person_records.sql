-- The active source records of the persons in scope (merge_persons), for person_attributes.sql.
-- A table of its own, analysed, so the joins on it get plans fitting its real size.
-- write: temp
select i.person_id, r.*
from core.person_identity as i
inner join staging.int_person_records as r
    on i.source = r.source and i.entity = r.entity and i.source_record_id = r.record_id
where i.is_active and i.person_id in (select person_id from merge_persons)
