-- grain: one row per source record that describes a company, linked to its account
-- key: source, entity, source_record_id
-- write: upsert
with companies as (
    select 'salesforce' as source, 'accounts' as entity, account_id as record_id, account_name as name, domain
    from staging.stg_salesforce__accounts where not is_deleted
    union all
    select 'hubspot', 'companies', company_id, company_name, domain
    from staging.stg_hubspot__companies where not is_deleted
    union all
    select 'file', 'accounts', record_id, name, domain
    from staging.stg_file__accounts where not is_deleted
),

final as (
    select
        c.source, c.entity, c.record_id as source_record_id, a.account_id,
        case when c.domain is not null then 'domain' else 'normalised_name' end as match_rule
    from companies as c
    inner join core.account as a
        on a.match_key = case
            when c.domain is not null then 'domain:' || c.domain
            else 'name:' || core.account_name_key(c.name)
        end
)

select * from final
