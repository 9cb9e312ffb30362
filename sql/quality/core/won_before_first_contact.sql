-- why: a deal won before its person's first contact (the lead date) is a date from the wrong field
--     or system; the person's lifecycle history skips the stages dated after the win
-- Checked: won deals of a person with a lead date. Unexpected: won (close date) before that date.
select
    count(*) as checked,
    count(*) filter (where o.close_date < (p.lead_created_at at time zone current_setting('TimeZone'))::date) as unexpected
from core.opportunity as o
inner join core.person as p on o.person_id = p.person_id
where o.is_won and p.lead_created_at is not null
