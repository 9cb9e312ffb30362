-- Grain: one row per stage a HubSpot deal entered (its dealstage property history), with when.
create or replace view staging.stg_hubspot__deal_stage_history as
with latest as (
    select * from staging.latest_hubspot__deals
    where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'archived'), false)
),

final as (
    select
        d.record_id as deal_id,
        coalesce(nullif(d.payload -> 'properties' ->> 'pipeline', ''), 'default') as pipeline_id,
        h.value ->> 'value' as stage_id,
        meta.try_timestamptz(h.value ->> 'timestamp') as entered_at
    from latest as d
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(d.payload -> 'propertiesWithHistory' -> 'dealstage') = 'array'
             then d.payload -> 'propertiesWithHistory' -> 'dealstage' else '[]' end
    ) as h (value)
)

select * from final where stage_id is not null and entered_at is not null
