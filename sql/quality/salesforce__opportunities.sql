-- What the salesforce__opportunities suite checks: one row per landed opportunity version.
select
    o.record_id,
    o.version_at,
    o.batch_id,
    meta.try_numeric(o.payload ->> 'Amount') as amount,
    coalesce(o.payload ->> 'CurrencyIsoCode', 'EUR') as currency,
    o.payload ->> 'StageName' as stage_name,
    meta.try_date(o.payload ->> 'CloseDate') as close_date,
    meta.try_timestamptz(o.payload ->> 'CreatedDate') as created_at,
    (
        o.payload ->> 'AccountId' is null
        or exists (select 1 from raw.salesforce__accounts as a where a.record_id = o.payload ->> 'AccountId')
    ) as has_account
from raw.salesforce__opportunities as o
where not o.is_deleted
