-- Grain: one row per Salesforce opportunity, its latest validated and not quarantined version,
-- with its custom fields (meta.custom_fields, from config/sources.yaml) typed by name.
create or replace view staging.stg_salesforce__opportunities as
select
    record_id as opportunity_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false) as is_deleted,
    payload ->> 'AccountId' as account_id,
    payload ->> 'ContactId' as contact_id,
    payload ->> 'Name' as opportunity_name,
    payload ->> 'StageName' as stage_name,
    meta.try_numeric(payload ->> 'Amount') as amount,
    upper(nullif(payload ->> 'CurrencyIsoCode', '')) as currency,
    payload ->> 'LeadSource' as lead_source,
    meta.try_numeric(payload ->> 'Probability') as probability,
    payload ->> 'OwnerId' as owner_id,
    coalesce(jsonb_strip_nulls((
        select jsonb_object_agg(c.name, meta.typed_value(payload ->> c.field, c.type))
        from meta.custom_fields as c
        where c.source = 'salesforce' and c.entity = 'opportunities'
    )), '{}') as custom,
    meta.try_date(payload ->> 'CloseDate') as close_date,
    coalesce(meta.try_boolean(payload ->> 'IsClosed'), false) as is_closed,
    coalesce(meta.try_boolean(payload ->> 'IsWon'), false) as is_won,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    record_id,
    batch_id
from staging.latest_salesforce__opportunities as latest
