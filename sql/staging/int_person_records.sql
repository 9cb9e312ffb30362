-- Grain: one row per live source record that describes a person (HubSpot contact, Salesforce
-- lead or contact, file-drop lead or contact), with the links a source itself asserts: a converted
-- lead names its contact (a file-drop contact may name its lead), a HubSpot contact names the
-- contacts merged into it, and the Salesforce records a HubSpot-Salesforce sync names on it; with the
-- evidence identity resolution weighs besides name and company (phone, job title, city, LinkedIn).
create or replace view staging.int_person_records as
with hubspot_contacts as (
    select * from staging.stg_hubspot__contacts where not is_deleted
),

salesforce_leads as (
    select * from staging.stg_salesforce__leads where not is_deleted
),

salesforce_contacts as (
    select c.*, a.account_name
    from staging.stg_salesforce__contacts as c
    left join staging.stg_salesforce__accounts as a on c.account_id = a.account_id
    where not c.is_deleted
),

file_leads as (
    select * from staging.stg_file__leads where not is_deleted
),

file_contacts as (
    select * from staging.stg_file__contacts where not is_deleted
),

unioned as (
    select
        'hubspot' as source, 'contacts' as entity, contact_id as record_id, email, first_name, last_name,
        company_name, source_channel, created_at, mql_at, null::timestamptz as sql_at, has_email_opt_out,
        owner_id, null::text as account_source_id, null::text as linked_record,
        (select array_agg('hubspot:contacts:' || m) from unnest(merged_contact_ids) as m) as merged_records,
        phone, job_title, city, linkedin_url,
        array_remove(array['salesforce:leads:' || salesforce_lead_id, 'salesforce:contacts:' || salesforce_contact_id],
            null) as synced_records
    from hubspot_contacts
    union all
    select
        'salesforce', 'leads', lead_id, email, first_name, last_name,
        company_name, lead_source, created_at, null, converted_date::timestamptz, has_email_opt_out,
        owner_id, null, 'salesforce:contacts:' || converted_contact_id, null,
        phone, job_title, city, null, null
    from salesforce_leads
    union all
    select
        'salesforce', 'contacts', contact_id, email, first_name, last_name,
        account_name, lead_source, created_at, null, null, has_email_opt_out,
        owner_id, account_id, null, null,
        phone, job_title, city, null, null
    from salesforce_contacts
    union all
    select
        'file', 'leads', record_id, email, first_name, last_name,
        company, origin_channel, first_contact_date, mql_date, sql_date, email_opt_out,
        owner_id, account_id, 'file:contacts:' || contact_id, null,
        phone, job_title, city, linkedin_url, null
    from file_leads
    union all
    select
        'file', 'contacts', record_id, email, first_name, last_name,
        company, origin_channel, first_contact_date, mql_date, sql_date, email_opt_out,
        owner_id, account_id, 'file:leads:' || lead_id, null,
        phone, job_title, city, linkedin_url, null
    from file_contacts
),

final as (
    select
        *,
        source || ':' || entity || ':' || record_id as record_key,
        case
            when email is not null then 'email:' || email
            else 'record:' || source || ':' || entity || ':' || record_id
        end as match_key
    from unioned
)

select * from final
