-- Grain: one row per Salesforce contact, its latest validated and not quarantined version.
create or replace view staging.stg_salesforce__contacts as
select
    record_id as contact_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false) as is_deleted,
    payload ->> 'AccountId' as account_id,
    lower(nullif(btrim(payload ->> 'Email'), '')) as email,
    nullif(btrim(payload ->> 'FirstName'), '') as first_name,
    nullif(btrim(payload ->> 'LastName'), '') as last_name,
    coalesce(nullif(btrim(payload ->> 'Phone'), ''), nullif(btrim(payload ->> 'MobilePhone'), '')) as phone,
    nullif(btrim(payload ->> 'Title'), '') as job_title,
    nullif(btrim(payload ->> 'MailingCity'), '') as city,
    payload ->> 'LeadSource' as lead_source,
    core.is_opt_out_value(payload ->> 'HasOptedOutOfEmail') as has_email_opt_out,
    payload ->> 'OwnerId' as owner_id,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    record_id,
    batch_id
from staging.latest_salesforce__contacts as latest
