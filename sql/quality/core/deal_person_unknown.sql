-- why: a deal naming a lead or contact that no export or system delivered belongs to nobody: it
--     counts in revenue and win rate but reaches no person's funnel and no after-sales list
-- Checked: deals naming a person record. Unexpected: no person has that record.
select
    count(*) as checked,
    count(*) filter (where o.person_id is null) as unexpected
from staging.int_opportunities as s
inner join core.opportunity as o on s.source = o.source and s.source_record_id = o.source_record_id
where s.person_record_id is not null
