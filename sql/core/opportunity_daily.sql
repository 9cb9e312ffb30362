-- Grain: one row per opportunity open at the end of :snapshot_date, as the stage history and the
-- opportunity knew it then (the pipeline snapshot forecast accuracy is measured against). Every
-- opportunity for a new snapshot date (:all_opportunities), else those in scope.
insert into core.opportunity_daily (snapshot_date, opportunity_id, stage_name, amount, probability, close_date)
with day_end as (
    select (cast(:snapshot_date as date) + 1)::timestamptz as at
),

stage_then as (
    select distinct on (h.opportunity_id) h.opportunity_id, h.stage_name, h.amount, h.probability
    from core.opportunity_stage_history as h, day_end
    where h.entered_at < day_end.at
        and (cast(:all_opportunities as boolean) or h.opportunity_id in (
            select o.opportunity_id from core.opportunity as o
            where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
        ))
    order by h.opportunity_id, h.entered_at desc
),

final as (
    select
        cast(:snapshot_date as date) as snapshot_date,
        o.opportunity_id,
        coalesce(s.stage_name, o.stage_name) as stage_name,
        coalesce(s.amount, o.amount) as amount,
        coalesce(s.probability, o.probability) as probability,
        o.close_date
    from core.opportunity as o
    cross join day_end
    left join stage_then as s on o.opportunity_id = s.opportunity_id
    where o.created_at < day_end.at
        and coalesce(s.stage_name, o.stage_name) not in ('Closed Won', 'Closed Lost')
        and (s.stage_name is not null or not o.is_closed)
        and (cast(:all_opportunities as boolean) or (o.source, o.source_record_id) in (
            select source, source_record_id from merge_opportunities
        ))
)

select * from final
on conflict (snapshot_date, opportunity_id) do update
set stage_name = excluded.stage_name, amount = excluded.amount, probability = excluded.probability,
    close_date = excluded.close_date
where (core.opportunity_daily.stage_name, core.opportunity_daily.amount, core.opportunity_daily.probability,
    core.opportunity_daily.close_date)
    is distinct from (excluded.stage_name, excluded.amount, excluded.probability, excluded.close_date)
