-- Person attributes and funnel dates from every active record of the person. Survivorship per
-- attribute follows the source order of config/identity.yaml (:first_name_priority, ...), the
-- email a person's own address before a shared one (:generic_mailboxes);
-- funnel dates are the earliest any system knows. The account comes from the account a record
-- names (a Salesforce contact's, a file-drop lead's or contact's), else the work domain or company name of any record. Reads person_records
-- (person_records.sql): the records of the persons in scope.
-- grain: one row per person in scope (merge_persons)
-- target: core.person
-- key: person_id
-- write: update
with records as (
    select * from person_records
),

ranked as (
    select
        *,
        coalesce(array_position(cast(:first_name_priority as text[]), source || '.' || entity), 99) as first_rank,
        coalesce(array_position(cast(:last_name_priority as text[]), source || '.' || entity), 99) as last_rank,
        coalesce(array_position(cast(:company_name_priority as text[]), source || '.' || entity), 99)
            as company_rank,
        coalesce(array_position(cast(:owner_id_priority as text[]), source || '.' || entity), 99) as owner_rank,
        coalesce(array_position(cast(:email_priority as text[]), source || '.' || entity), 99) as email_rank,
        coalesce(array_position(cast(:source_channel_priority as text[]), source || '.' || entity), 99)
            as channel_rank
    from records
),

record_accounts as (
    select r.person_id, a.account_id, 1 as how
    from records as r
    inner join core.account_identity as ai
        on ai.source = r.source and ai.entity = 'accounts' and r.account_source_id = ai.source_record_id
    inner join core.account as a on ai.account_id = a.account_id
    union all
    select r.person_id, a.account_id, 2
    from records as r
    inner join core.account as a on a.match_key = 'domain:' || split_part(r.email, '@', 2)
    union all
    select r.person_id, a.account_id, 3
    from records as r
    inner join core.account as a on a.match_key = 'name:' || core.account_name_key(r.company_name)
),

accounts as (
    select distinct on (person_id) person_id, account_id
    from record_accounts
    order by person_id, how, account_id
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
        -- a shared mailbox (info@) only when the person has no address of its own
        (array_agg(email order by split_part(email, '@', 1) = any(cast(:generic_mailboxes as text[])), email_rank,
            created_at) filter (where email is not null))[1] as email,
        (array_agg(first_name order by first_rank, created_at) filter (where first_name is not null))[1]
            as first_name,
        (array_agg(last_name order by last_rank, created_at) filter (where last_name is not null))[1] as last_name,
        (array_agg(company_name order by company_rank, created_at) filter (where company_name is not null))[1]
            as company_name,
        (array_agg(owner_id order by owner_rank, created_at) filter (where owner_id is not null))[1] as owner_id,
        (array_agg(source_channel order by channel_rank, created_at) filter (where source_channel is not null))[1]
            as source_channel,
        min(created_at) as lead_created_at,
        min(mql_at) as mql_at,
        min(sql_at) as sql_at,
        bool_or(has_email_opt_out) as has_email_opt_out
    from ranked
    group by person_id
),

final as (
    select
        pp.*,
        a.account_id,
        w.first_won_date::timestamptz as customer_at,
        case
            when w.first_won_date is not null then 'customer'
            when exists (select 1 from core.opportunity as o where o.person_id = pp.person_id) then 'opportunity'
            when pp.sql_at is not null then 'sql'
            when pp.mql_at is not null then 'mql'
            else 'lead'
        end as lifecycle_stage
    from per_person as pp
    left join accounts as a on pp.person_id = a.person_id
    left join won as w on pp.person_id = w.person_id
)

select * from final
