-- The pipeline snapshot dates this merge writes (:snapshot_dates: the as-of date and the last day
-- of each month before it, see transform.snapshot_dates), and whether core.opportunity_daily already
-- holds the date (then only the opportunities in scope are written again, else every one).
-- before: opportunity_daily
-- write: temp
select
    d.snapshot_date,
    exists (select 1 from core.opportunity_daily as od where od.snapshot_date = d.snapshot_date) as known
from unnest(cast(:snapshot_dates as date[])) as d (snapshot_date)
