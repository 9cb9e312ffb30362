-- grain: one row per snapshot date (snapshot_days.sql) per opportunity open at the end of that day,
--     as the stage history and the opportunity knew it then (the pipeline snapshot forecast
--     accuracy is measured against): stage, amount, probability and close date of the last change
--     before the day's end, each else the opportunity's own
-- key: snapshot_date, opportunity_id
-- write: scoped
-- scope: snapshot_date in (select snapshot_date from snapshot_days where known and not frozen) and opportunity_id
--     in (select o.opportunity_id from core.opportunity as o where (o.source, o.source_record_id) in
--     (select source, source_record_id from merge_opportunities))
-- Every opportunity for a date written the first time, those in scope for the as-of date, and
-- nothing for a day already taken before it (snapshot_days.sql: frozen).
with day_end as (
    select snapshot_date, known, (snapshot_date + 1)::timestamptz as at
    from snapshot_days where not frozen
),

in_scope as (
    select o.opportunity_id
    from core.opportunity as o
    where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
),

stage_then as (
    select distinct on (d.snapshot_date, h.opportunity_id)
        d.snapshot_date, h.opportunity_id, h.stage_name, h.amount, h.probability, h.close_date
    from core.opportunity_stage_history as h
    inner join day_end as d on h.entered_at < d.at
    where not d.known or h.opportunity_id in (select opportunity_id from in_scope)
    order by d.snapshot_date, h.opportunity_id, h.entered_at desc
),

final as (
    select
        d.snapshot_date,
        o.opportunity_id,
        coalesce(s.stage_name, o.stage_name) as stage_name,
        coalesce(s.amount, o.amount) as amount,
        coalesce(s.probability, o.probability) as probability,
        coalesce(s.close_date, o.close_date) as close_date
    from core.opportunity as o
    inner join day_end as d on o.created_at < d.at
    left join stage_then as s on d.snapshot_date = s.snapshot_date and o.opportunity_id = s.opportunity_id
    where coalesce(s.stage_name, o.stage_name) not in ('Closed Won', 'Closed Lost')
        and (s.stage_name is not null or not o.is_closed)
        and (not d.known or o.opportunity_id in (select opportunity_id from in_scope))
)

select * from final
