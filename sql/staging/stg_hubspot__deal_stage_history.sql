-- Grain: one row per change of a HubSpot deal's stage, amount or close date (the property histories
-- of dealstage, amount and closedate), with the value each of the three held from then on; a
-- change before the deal's first stage is not a row.
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

points as (
    select distinct deal_id, pipeline_id, changed_at from changes where changed_at is not null
),

final as (
    select
        pt.deal_id,
        pt.pipeline_id,
        (select c.value from changes as c
         where c.deal_id = pt.deal_id and c.property = 'dealstage' and c.changed_at <= pt.changed_at
         order by c.changed_at desc limit 1) as stage_id,
        meta.try_numeric((select c.value from changes as c
         where c.deal_id = pt.deal_id and c.property = 'amount' and c.changed_at <= pt.changed_at
         order by c.changed_at desc limit 1)) as amount,
        cast(meta.try_timestamptz((select c.value from changes as c
         where c.deal_id = pt.deal_id and c.property = 'closedate' and c.changed_at <= pt.changed_at
         order by c.changed_at desc limit 1)) as date) as close_date,
        pt.changed_at as entered_at
    from points as pt
)

select * from final where stage_id is not null and entered_at is not null
