-- Grain: one row per Salesforce opportunity, its latest validated and not quarantined version.
create or replace view staging.stg_salesforce__opportunities as
with versions as (
    select r.*
    from raw.salesforce__opportunities as r
    inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
    where not exists (
        select 1 from quarantine.records as q
        where q.source = 'salesforce' and q.entity = 'opportunities'
            and q.record_id = r.record_id and q.version_at = r.version_at
    )
),

latest as (
    select distinct on (record_id) *
    from versions
    order by record_id, version_at desc
),

final as (
    select
        record_id as opportunity_id,
        version_at,
        is_deleted or coalesce((payload ->> 'IsDeleted')::boolean, false) as is_deleted,
        payload ->> 'AccountId' as account_id,
        payload ->> 'ContactId' as contact_id,
        payload ->> 'Name' as opportunity_name,
        payload ->> 'StageName' as stage_name,
        meta.try_numeric(payload ->> 'Amount') as amount,
        coalesce(payload ->> 'CurrencyIsoCode', 'EUR') as currency,
        payload ->> 'LeadSource' as lead_source,
        meta.try_date(payload ->> 'CloseDate') as close_date,
        coalesce((payload ->> 'IsClosed')::boolean, false) as is_closed,
        coalesce((payload ->> 'IsWon')::boolean, false) as is_won,
        meta.try_timestamptz(payload ->> 'CreatedDate') as created_at
    from latest
)

select * from final
