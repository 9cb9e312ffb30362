-- why: a deal closed before it was created has one of the two dates wrong; its sales cycle is
--     negative and left out of the averages
-- Checked: closed deals. Unexpected: close date before the creation date (UTC).
select
    count(*) as checked,
    count(*) filter (where o.close_date < (o.created_at at time zone current_setting('TimeZone'))::date) as unexpected
from core.opportunity as o
where o.is_closed and o.close_date is not null and o.created_at is not null
