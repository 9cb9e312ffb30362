-- The pipeline snapshot dates this merge writes (:snapshot_dates: the as-of date and the last day
-- of each month before it, see transform.snapshot_dates), and whether core.opportunity_daily already
-- holds the date. A snapshot is a fact: once taken, a day that has ended (before today in the
-- reporting time zone) is never written again (frozen), whatever changed since, a backfill for it
-- included; a day taken for the first time is rebuilt from the history as it stood then; today's
-- is written again for the opportunities in scope (a rerun the same day).
-- before: opportunity_daily
-- write: temp
select
    d.snapshot_date,
    exists (select 1 from core.opportunity_daily as od where od.snapshot_date = d.snapshot_date) as known,
    d.snapshot_date < current_date
        and exists (select 1 from core.opportunity_daily as od where od.snapshot_date = d.snapshot_date) as frozen
from unnest(cast(:snapshot_dates as date[])) as d (snapshot_date)
