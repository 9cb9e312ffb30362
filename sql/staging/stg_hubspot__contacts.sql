-- Grain: one row per HubSpot contact, its latest validated and not quarantined version.
create or replace view staging.stg_hubspot__contacts as
with versions as (
    select r.*
    from raw.hubspot__contacts as r
    inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
    where not exists (
        select 1 from quarantine.records as q
        where q.source = 'hubspot' and q.entity = 'contacts'
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
        is_deleted or coalesce((payload ->> 'archived')::boolean, false) as is_deleted,
        lower(nullif(btrim(payload -> 'properties' ->> 'email'), '')) as email,
        nullif(btrim(payload -> 'properties' ->> 'firstname'), '') as first_name,
        nullif(btrim(payload -> 'properties' ->> 'lastname'), '') as last_name,
        nullif(btrim(payload -> 'properties' ->> 'company'), '') as company_name,
        payload -> 'properties' ->> 'lifecyclestage' as lifecycle_stage,
        payload -> 'properties' ->> 'hs_analytics_source' as source_channel,
        meta.try_timestamptz(payload -> 'properties' ->> 'createdate') as created_at,
        meta.try_timestamptz(
            payload -> 'properties' ->> 'hs_lifecyclestage_marketingqualifiedlead_date'
        ) as mql_at,
        coalesce(lower(payload -> 'properties' ->> 'hs_email_optout') = 'true', false) as has_email_opt_out
    from latest
)

select * from final
