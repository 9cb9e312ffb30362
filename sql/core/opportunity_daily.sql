-- grain: one row per snapshot date (snapshot_days.sql) per opportunity open at the end of that day,
--     as the stage history and the opportunity knew it then (the pipeline snapshot forecast
--     accuracy is measured against)
-- key: snapshot_date, opportunity_id
-- write: scoped
-- scope: snapshot_date in (select snapshot_date from snapshot_days where known and not frozen) and opportunity_id
--     in (select o.opportunity_id from core.opportunity as o where (o.source, o.source_record_id) in
--     (select source, source_record_id from merge_opportunities))
-- Each deal as marts.opportunity_as_of reads it at the end of the day (the marts' own definition of
-- a deal as it stood: its last change before then, a deal closed later still open), for every
-- opportunity on a day written the first time, those in scope on the day still open to rewrites,
-- and nothing on a day already taken (snapshot_days.sql: frozen).
with day_end as (
    select snapshot_date, known, (snapshot_date + 1)::timestamptz as at
    from snapshot_days where not frozen
),

in_scope as (
    select o.opportunity_id
    from core.opportunity as o
    where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
),

history_first as (  -- opportunity_as_of reads the stage history: this model runs after it is rebuilt
    select h.opportunity_id from core.opportunity_stage_history as h limit 0
),

final as (
    select d.snapshot_date, o.opportunity_id, o.stage_name, o.amount, o.probability, o.close_date
    from day_end as d
    cross join lateral marts.opportunity_as_of(d.at, d.snapshot_date) as o
    where not o.is_closed
        and (not d.known or o.opportunity_id in (select opportunity_id from in_scope))
)

select * from final
