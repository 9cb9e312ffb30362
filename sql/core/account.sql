-- Grain: one row per company across systems, keyed by its domain, else its normalised name.
-- Salesforce wins the name and industry over HubSpot.
insert into core.account (match_key, name, domain, industry, created_at)
with companies as (
    select 1 as priority, account_name as name, domain, industry, created_at
    from staging.stg_salesforce__accounts where not is_deleted
    union all
    select 2, company_name, domain, industry, created_at
    from staging.stg_hubspot__companies where not is_deleted
),

keyed as (
    select
        *,
        case
            when domain is not null then 'domain:' || domain
            else 'name:' || core.normalize_company(name)
        end as match_key
    from companies
    where domain is not null or core.normalize_company(name) is not null
),

final as (
    select distinct on (match_key) match_key, name, domain, industry, min(created_at) over (partition by match_key)
    from keyed
    order by match_key, priority, created_at
)

select * from final
on conflict (match_key) do update
set name = excluded.name, domain = excluded.domain, industry = excluded.industry, created_at = excluded.created_at,
    updated_at = now()
where (core.account.name, core.account.domain, core.account.industry, core.account.created_at)
    is distinct from (excluded.name, excluded.domain, excluded.industry, excluded.created_at)
