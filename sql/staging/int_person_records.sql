-- Grain: one row per source record that describes a person (HubSpot contact, Salesforce
-- lead or contact), with the key identity resolution matches on.
create or replace view staging.int_person_records as
with hubspot_contacts as (
    select * from staging.stg_hubspot__contacts where not is_deleted
),

salesforce_leads as (
    select * from staging.stg_salesforce__leads where not is_deleted
),

salesforce_contacts as (
    select * from staging.stg_salesforce__contacts where not is_deleted
),

file_leads as (
    select * from staging.stg_file__leads
),

unioned as (
    select
        'hubspot' as source, 'contacts' as entity, contact_id as record_id, email, first_name, last_name,
        company_name, source_channel, created_at, mql_at, null::date as converted_date, has_email_opt_out
    from hubspot_contacts
    union all
    select
        'salesforce', 'leads', lead_id, email, first_name, last_name,
        company_name, lead_source, created_at, null, converted_date, has_email_opt_out
    from salesforce_leads
    union all
    select
        'salesforce', 'contacts', contact_id, email, first_name, last_name,
        null, lead_source, created_at, null, null, has_email_opt_out
    from salesforce_contacts
    union all
    select
        'file', 'leads', lead_id, email, first_name, last_name,
        company_name, origin_channel, created_at, mql_at, converted_date, false
    from file_leads
),

final as (
    select
        *,
        case
            when email is not null then 'email:' || email
            else 'record:' || source || ':' || entity || ':' || record_id
        end as match_key
    from unioned
)

select * from final
