-- Grain: one row per Salesforce lead, its latest validated and not quarantined version.
create or replace view staging.stg_salesforce__leads as
select
    record_id as lead_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false) as is_deleted,
    lower(nullif(btrim(payload ->> 'Email'), '')) as email,
    nullif(btrim(payload ->> 'FirstName'), '') as first_name,
    nullif(btrim(payload ->> 'LastName'), '') as last_name,
    nullif(btrim(payload ->> 'Company'), '') as company_name,
    coalesce(nullif(btrim(payload ->> 'Phone'), ''), nullif(btrim(payload ->> 'MobilePhone'), '')) as phone,
    nullif(btrim(payload ->> 'Title'), '') as job_title,
    nullif(btrim(payload ->> 'City'), '') as city,
    payload ->> 'LeadSource' as lead_source,
    payload ->> 'Status' as status,
    coalesce(meta.try_boolean(payload ->> 'IsConverted'), false) as is_converted,
    meta.try_date(payload ->> 'ConvertedDate') as converted_date,
    payload ->> 'ConvertedContactId' as converted_contact_id,
    payload ->> 'ConvertedOpportunityId' as converted_opportunity_id,
    core.is_opt_out_value(payload ->> 'HasOptedOutOfEmail') as has_email_opt_out,
    payload ->> 'OwnerId' as owner_id,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    record_id,
    batch_id
from staging.latest_salesforce__leads as latest
