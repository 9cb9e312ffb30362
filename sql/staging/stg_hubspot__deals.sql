-- Grain: one row per HubSpot deal, its latest validated version, with the contact it is with (the
-- first associated contact by id), its company (the primary association, else the first) and its
-- custom properties (meta.custom_fields, from config/sources.yaml) typed by name.
create or replace view staging.stg_hubspot__deals as
select
    record_id as deal_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'archived'), false) as is_deleted,
    payload -> 'properties' ->> 'dealname' as deal_name,
    coalesce(nullif(payload -> 'properties' ->> 'pipeline', ''), 'default') as pipeline_id,
    nullif(payload -> 'properties' ->> 'dealstage', '') as stage_id,
    meta.try_numeric(payload -> 'properties' ->> 'amount') as amount,
    upper(nullif(payload -> 'properties' ->> 'deal_currency_code', '')) as currency,
    meta.try_numeric(payload -> 'properties' ->> 'hs_deal_stage_probability') * 100 as probability,
    meta.try_timestamptz(payload -> 'properties' ->> 'closedate') as closed_at,
    meta.try_timestamptz(payload -> 'properties' ->> 'createdate') as created_at,
    meta.try_boolean(payload -> 'properties' ->> 'hs_is_closed') as is_closed,
    meta.try_boolean(payload -> 'properties' ->> 'hs_is_closed_won') as is_won,
    nullif(payload -> 'properties' ->> 'hubspot_owner_id', '') as owner_id,
    nullif(payload -> 'properties' ->> 'hs_analytics_source', '') as lead_source,
    coalesce(jsonb_strip_nulls((
        select jsonb_object_agg(c.name, meta.typed_value(payload -> 'properties' ->> c.field, c.type))
        from meta.custom_fields as c
        where c.source = 'hubspot' and c.entity = 'deals'
    )), '{}') as custom,
    (select a.value ->> 'id'
     from jsonb_array_elements(case when jsonb_typeof(payload -> 'associations' -> 'contacts') = 'array'
                                    then payload -> 'associations' -> 'contacts' else '[]' end) as a (value)
     order by length(a.value ->> 'id'), a.value ->> 'id' limit 1) as contact_id,
    (select a.value ->> 'id'
     from jsonb_array_elements(case when jsonb_typeof(payload -> 'associations' -> 'companies') = 'array'
                                    then payload -> 'associations' -> 'companies' else '[]' end) as a (value)
     order by coalesce(a.value -> 'types' @> '[5]', false) desc, length(a.value ->> 'id'), a.value ->> 'id'
     limit 1) as company_id,
    record_id,
    batch_id
from staging.latest_hubspot__deals as latest
