-- Grain: one row per Salesforce contact, its latest validated and not quarantined version.
create or replace view staging.stg_salesforce__contacts as
with versions as (
    select r.*
    from raw.salesforce__contacts as r
    inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
    where not exists (
        select 1 from quarantine.records as q
        where q.source = 'salesforce' and q.entity = 'contacts'
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
        record_id as contact_id,
        version_at,
        is_deleted or coalesce((payload ->> 'IsDeleted')::boolean, false) as is_deleted,
        payload ->> 'AccountId' as account_id,
        lower(nullif(btrim(payload ->> 'Email'), '')) as email,
        nullif(btrim(payload ->> 'FirstName'), '') as first_name,
        nullif(btrim(payload ->> 'LastName'), '') as last_name,
        payload ->> 'LeadSource' as lead_source,
        coalesce((payload ->> 'HasOptedOutOfEmail')::boolean, false) as has_email_opt_out,
        meta.try_timestamptz(payload ->> 'CreatedDate') as created_at
    from latest
)

select * from final
