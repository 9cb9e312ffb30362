-- The persons the opportunities in scope belong to after this merge, added to merge_persons.
-- target: merge_persons
-- write: append
select o.person_id
from core.opportunity as o
where o.person_id is not null
    and (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
