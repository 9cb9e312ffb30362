-- Grain: one row per HubSpot contact, its latest validated and not quarantined version.
create or replace view staging.stg_hubspot__contacts as
select
    record_id as contact_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'archived'), false) as is_deleted,
    lower(nullif(btrim(payload -> 'properties' ->> 'email'), '')) as email,
    nullif(btrim(payload -> 'properties' ->> 'firstname'), '') as first_name,
    nullif(btrim(payload -> 'properties' ->> 'lastname'), '') as last_name,
    nullif(btrim(payload -> 'properties' ->> 'company'), '') as company_name,
    coalesce(
        nullif(btrim(payload -> 'properties' ->> 'phone'), ''),
        nullif(btrim(payload -> 'properties' ->> 'mobilephone'), '')
    ) as phone,
    nullif(btrim(payload -> 'properties' ->> 'jobtitle'), '') as job_title,
    nullif(btrim(payload -> 'properties' ->> 'city'), '') as city,
    nullif(btrim(payload -> 'properties' ->> 'hs_linkedin_url'), '') as linkedin_url,
    -- the ids the HubSpot-Salesforce integration writes on a synced contact
    nullif(btrim(payload -> 'properties' ->> 'salesforceleadid'), '') as salesforce_lead_id,
    nullif(btrim(payload -> 'properties' ->> 'salesforcecontactid'), '') as salesforce_contact_id,
    payload -> 'properties' ->> 'lifecyclestage' as lifecycle_stage,
    payload -> 'properties' ->> 'hs_analytics_source' as source_channel,
    meta.try_timestamptz(payload -> 'properties' ->> 'createdate') as created_at,
    meta.try_timestamptz(
        payload -> 'properties' ->> 'hs_lifecyclestage_marketingqualifiedlead_date'
    ) as mql_at,
    core.is_opt_out_value(payload -> 'properties' ->> 'hs_email_optout') as has_email_opt_out,
    nullif(payload -> 'properties' ->> 'hubspot_owner_id', '') as owner_id,
    string_to_array(nullif(payload -> 'properties' ->> 'hs_merged_object_ids', ''), ';') as merged_contact_ids,
    record_id,
    batch_id
from staging.latest_hubspot__contacts as latest
