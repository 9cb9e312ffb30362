-- The records identity resolution compares, with their normalised keys, for the records being
-- refreshed (temp table identity_refresh, see identity.py). Grain: one row per live source record
-- describing a person; email_key is the mailbox key (core.mailbox_key), first_name_forms the first
-- name and the formal names it is a nickname of (meta.nickname). Parameters: :settings_digest,
-- :generic_mailboxes, :free_mail_domains (from config/identity.yaml); :whole, true when no other
-- record is left in core.identity_record (identity.py, which writes the rows: those that changed).
with records as (  -- unless the refresh is whole, the ids go to each arm of the union as an index condition
    select * from staging.int_person_records
    where (source, entity, record_id) in (select source, entity, record_id from identity_refresh)
        and (cast(:whole as boolean) or record_id = any(array(select record_id from identity_refresh)))
),

companies as (  -- a company's key computed once for all its records
    select company_name, core.identity_company_key(company_name) as company_key
    from (select distinct company_name from records) as names
),

keyed as materialized (  -- each key computed once, not again wherever it is used
    select
        record_key,
        source,
        entity,
        record_id,
        core.mailbox_key(email) as email_key,
        core.normalize_person_name(concat_ws(' ', first_name, last_name)) as full_name,
        core.normalize_person_name(last_name) as last_name_key,
        core.normalize_person_name(first_name) as first_name_key,
        companies.company_key,
        linked_record,
        merged_records,
        account_source_id,
        core.identity_phone_key(phone) as phone_key,
        core.normalize_person_name(job_title) as title_key,
        core.normalize_person_name(city) as city_key,
        core.identity_linkedin_key(linkedin_url) as linkedin_key,
        synced_records
    from records
    left join companies using (company_name)
),

forms as (
    select
        *,
        (
            select array_agg(distinct f order by f) from (
                select first_name_key as f
                union all
                select n.canonical from meta.nickname as n where n.name = first_name_key
            ) as names where f is not null
        ) as first_name_forms
    from keyed
),

final as (
    select
        *,
        split_part(email_key, '@', 1) = any(cast(:generic_mailboxes as text[])) as is_generic_mailbox,
        case
            when email_key like '%@%' and split_part(email_key, '@', 2) <> all(cast(:free_mail_domains as text[]))
                then split_part(email_key, '@', 2)
        end as work_domain,
        -- the settings' digest too: records matched under other settings are matched again
        md5(concat_ws('|', email_key, full_name, company_key, linked_record, array_to_string(merged_records, ','),
            phone_key, title_key, city_key, linkedin_key, array_to_string(synced_records, ','),
            cast(:settings_digest as text))) as fingerprint
    from forms
)

select
    record_key, source, entity, record_id, email_key, full_name, last_name_key, first_name_key, company_key,
    linked_record, merged_records, account_source_id, is_generic_mailbox, work_domain, fingerprint,
    first_name_forms, phone_key, title_key, city_key, linkedin_key, synced_records
from final
