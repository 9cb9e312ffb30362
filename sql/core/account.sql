-- grain: one row per company across systems, keyed by its domain, else its normalised name
-- key: match_key
-- write: upsert
-- Salesforce wins the name and industry over HubSpot, HubSpot over file drops.
with companies as (
    select 1 as priority, account_name as name, domain, industry, created_at
    from staging.stg_salesforce__accounts where not is_deleted
    union all
    select 2, company_name, domain, industry, created_at
    from staging.stg_hubspot__companies where not is_deleted
    union all
    select 3, name, domain, industry, created_date
    from staging.stg_file__accounts where not is_deleted
),

keyed as (
    select
        *,
        case
            when domain is not null then 'domain:' || domain
            else 'name:' || core.account_name_key(name)
        end as match_key
    from companies
    where domain is not null or core.account_name_key(name) is not null
),

final as (
    select distinct on (match_key)
        match_key, name, domain, industry, min(created_at) over (partition by match_key) as created_at
    from keyed
    order by keyed.match_key, keyed.priority, keyed.created_at
)

select * from final
