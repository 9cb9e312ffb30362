-- Grain: one row per change of a HubSpot deal's stage, amount or close date (the property histories
-- of dealstage, amount and closedate), with the value each of the three held from then on; a
-- change before the deal's first stage is not a row. Values are carried forward with window
-- functions (a sort per deal, no lookup per change).
create or replace view staging.stg_hubspot__deal_stage_history as
with latest as (
    select * from staging.latest_hubspot__deals
    where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'archived'), false)
),

changes as (
    select
        d.record_id as deal_id,
        coalesce(nullif(d.payload -> 'properties' ->> 'pipeline', ''), 'default') as pipeline_id,
        p.name as property,
        h.value ->> 'value' as value,
        meta.try_timestamptz(h.value ->> 'timestamp') as changed_at
    from latest as d
    cross join (values ('dealstage'), ('amount'), ('closedate')) as p (name)
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(d.payload -> 'propertiesWithHistory' -> p.name) = 'array'
             then d.payload -> 'propertiesWithHistory' -> p.name else '[]' end
    ) as h (value)
),

points as (  -- per deal and instant, what changed then
    select
        deal_id, pipeline_id, changed_at,
        max(value) filter (where property = 'dealstage') as stage_id,
        max(value) filter (where property = 'amount') as amount,
        max(value) filter (where property = 'closedate') as closedate
    from changes
    where changed_at is not null
    group by deal_id, pipeline_id, changed_at
),

runs as (  -- each property's run of instants since it last changed
    select
        *,
        count(stage_id) over w as stage_run,
        count(amount) over w as amount_run,
        count(closedate) over w as closedate_run
    from points
    window w as (partition by deal_id order by changed_at)
),

final as (
    select
        deal_id,
        pipeline_id,
        max(stage_id) over (partition by deal_id, stage_run) as stage_id,
        meta.try_numeric(max(amount) over (partition by deal_id, amount_run)) as amount,
        cast(meta.try_timestamptz(max(closedate) over (partition by deal_id, closedate_run)) as date) as close_date,
        changed_at as entered_at
    from runs
)

select * from final where stage_id is not null and entered_at is not null
