-- Grain: one row per HubSpot company, its latest validated and not quarantined version.
create or replace view staging.stg_hubspot__companies as
select
    record_id as company_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'archived'), false) as is_deleted,
    nullif(btrim(payload -> 'properties' ->> 'name'), '') as company_name,
    lower(nullif(btrim(payload -> 'properties' ->> 'domain'), '')) as domain,
    nullif(payload -> 'properties' ->> 'industry', '') as industry,
    meta.try_timestamptz(payload -> 'properties' ->> 'createdate') as created_at,
    record_id,
    batch_id
from staging.latest_hubspot__companies as latest
