-- Grain: one row per stage of a HubSpot deal pipeline, with the shared pipeline stage it counts as:
-- the one config/sources.yaml maps its id or label to (meta.deal_stage_map), else Closed Won or
-- Closed Lost for a closed stage by its probability, else its own label (is_mapped false).
create or replace view staging.stg_hubspot__deal_stages as
with pipelines as (
    select * from staging.latest_hubspot__deal_pipelines where not is_deleted
),

stages as (
    select
        p.record_id as pipeline_id,
        p.payload ->> 'label' as pipeline_label,
        s.value ->> 'id' as stage_id,
        s.value ->> 'label' as stage_label,
        coalesce(meta.try_boolean(s.value -> 'metadata' ->> 'isClosed'), false) as is_closed,
        meta.try_numeric(s.value -> 'metadata' ->> 'probability') * 100 as probability,
        meta.try_numeric(s.value ->> 'displayOrder') as display_order
    from pipelines as p
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(p.payload -> 'stages') = 'array' then p.payload -> 'stages' else '[]' end
    ) as s (value)
),

final as (
    select
        s.*,
        coalesce(by_id.stage, by_label.stage,
                 case when s.is_closed and s.probability >= 100 then 'Closed Won'
                      when s.is_closed and s.probability = 0 then 'Closed Lost' end,
                 s.stage_label) as stage,
        coalesce(by_id.stage, by_label.stage) is not null or s.is_closed as is_mapped
    from stages as s
    left join meta.deal_stage_map as by_id on by_id.source = 'hubspot' and by_id.stage_key = s.stage_id
    left join meta.deal_stage_map as by_label on by_label.source = 'hubspot' and by_label.stage_key = s.stage_label
)

select * from final
