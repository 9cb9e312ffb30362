-- Grain: one row per Salesforce account, its latest validated and not quarantined version.
create or replace view staging.stg_salesforce__accounts as
select
    record_id as account_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false) as is_deleted,
    nullif(btrim(payload ->> 'Name'), '') as account_name,
    lower(nullif(regexp_replace(coalesce(payload ->> 'Website', ''), '^(https?://)?(www\.)?([^/]*).*$', '\3'), ''))
        as domain,
    nullif(payload ->> 'Industry', '') as industry,
    payload ->> 'OwnerId' as owner_id,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    record_id,
    batch_id
from staging.latest_salesforce__accounts as latest
