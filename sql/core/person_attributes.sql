-- Person attributes and funnel dates from every record of the person.
-- Survivorship: CRM (Salesforce contact, then lead) wins names and company; HubSpot wins the
-- marketing channel; funnel dates are the earliest any system knows.
with records as (
    select
        i.person_id,
        r.*,
        case when r.source = 'salesforce' and r.entity = 'contacts' then 1
            when r.source = 'salesforce' then 2 else 3 end as crm_rank
    from core.person_identity as i
    inner join staging.int_person_records as r
        on i.source = r.source and i.entity = r.entity and i.source_record_id = r.record_id
),

won as (
    select person_id, min(close_date) as first_won_date
    from core.opportunity
    where is_won and person_id is not null
    group by person_id
),

per_person as (
    select
        person_id,
        (array_agg(first_name order by crm_rank, created_at) filter (where first_name is not null))[1] as first_name,
        (array_agg(last_name order by crm_rank, created_at) filter (where last_name is not null))[1] as last_name,
        (array_agg(company_name order by crm_rank, created_at) filter (where company_name is not null))[1]
            as company_name,
        (array_agg(source_channel order by crm_rank desc, created_at) filter (where source_channel is not null))[1]
            as source_channel,
        min(created_at) as lead_created_at,
        min(mql_at) as mql_at,
        min(converted_date)::timestamptz as sql_at,
        bool_or(has_email_opt_out) as has_email_opt_out
    from records
    group by person_id
),

final as (
    select pp.*, w.first_won_date::timestamptz as customer_at
    from per_person as pp
    left join won as w on pp.person_id = w.person_id
)

update core.person as p
set first_name = f.first_name,
    last_name = f.last_name,
    company_name = f.company_name,
    source_channel = f.source_channel,
    lead_created_at = f.lead_created_at,
    mql_at = f.mql_at,
    sql_at = f.sql_at,
    customer_at = f.customer_at,
    has_email_opt_out = f.has_email_opt_out,
    updated_at = now()
from final as f
where p.person_id = f.person_id
    and (p.first_name, p.last_name, p.company_name, p.source_channel, p.lead_created_at, p.mql_at, p.sql_at,
        p.customer_at, p.has_email_opt_out)
    is distinct from (f.first_name, f.last_name, f.company_name, f.source_channel, f.lead_created_at, f.mql_at,
        f.sql_at, f.customer_at, f.has_email_opt_out)
