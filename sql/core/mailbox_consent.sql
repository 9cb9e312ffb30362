-- grain: one row per source record and subscription that states an address's email consent (HubSpot
--     subscription statuses, file-drop subscriptions, Mailchimp members and abuse reports; the
--     opt-out flags of HubSpot contacts, Salesforce leads and contacts, file-drop leads and
--     contacts), deleted records included
-- key: source, entity, record_id, subscription, email
-- write: scoped
-- scope: (source, entity, record_id) in (select source, entity, record_id from merge_changes)
-- An opt-out outlives its record. Keyed by mailbox, not by person, so suppression holds whoever the
-- record belongs to. A file drop's opt-out holds once any landed row of the record set it
-- (staging's opt_out kind), for that row's address too when a later row has another. Only the
-- records promoted by this merge (merge_changes); their rows no longer given are deleted (scope).
with changed as (
    select source, entity, record_id from merge_changes
),

statuses as (
    select
        'hubspot' as source, 'subscription_statuses' as entity, s.contact_id as record_id,
        s.subscription_name as subscription, s.email, s.status, s.legal_basis, s.changed_at,
        false as is_record_deleted
    from staging.stg_hubspot__subscription_statuses as s
    where s.contact_id in (select record_id from changed where source = 'hubspot' and entity = 'subscription_statuses')
    union all
    -- a file-drop subscription: for each mailbox and subscription its rows name, the latest change
    -- by date of every row of it that was loaded, not its last row (a later export may re-send an
    -- older one; an id reused for another mailbox or subscription lifts nothing of the first's); a
    -- row without a date counts from when it landed when it unsubscribes or opts out, and lifts
    -- nothing when it subscribes
    select
        'file', 'subscriptions', s.record_id, coalesce(s.subscription, 'all'), s.email,
        case s.status when 'subscribed' then 'SUBSCRIBED' when 'unsubscribed' then 'NOT_SUBSCRIBED' else 'OPTED_OUT' end,
        s.legal_basis, coalesce(s.changed_at, s.version_at), latest.is_deleted
    from staging.latest_file__subscriptions as latest
    cross join lateral (
        select distinct on (core.mailbox_key(r.payload ->> 'email'), coalesce(nullif(btrim(r.payload ->> 'subscription'), ''), 'all'))
            r.record_id, r.version_at, lower(nullif(btrim(r.payload ->> 'email'), '')) as email,
            nullif(btrim(r.payload ->> 'subscription'), '') as subscription,
            nullif(btrim(r.payload ->> 'status'), '') as status,
            nullif(btrim(r.payload ->> 'legal_basis'), '') as legal_basis,
            meta.try_timestamptz(r.payload ->> 'changed_at') as changed_at
        from raw.file__subscriptions as r
        inner join meta.batches as b on r.batch_id = b.batch_id
        where r.record_id = latest.record_id and r.version_at <= latest.version_at and b.validated_at is not null
            and not exists (
                select 1 from quarantine.records as q
                where q.source = 'file' and q.entity = 'subscriptions'
                    and q.record_id = r.record_id and q.version_at = r.version_at
            )
        order by core.mailbox_key(r.payload ->> 'email'), coalesce(nullif(btrim(r.payload ->> 'subscription'), ''), 'all'),
            coalesce(meta.try_timestamptz(r.payload ->> 'changed_at'),
                case when btrim(r.payload ->> 'status') = 'subscribed' then '-infinity' else r.version_at end) desc,
            btrim(r.payload ->> 'status') = 'subscribed', r.version_at desc
    ) as s
    where latest.record_id in (select record_id from changed where source = 'file' and entity = 'subscriptions')
    union all
    -- a Mailchimp member: unsubscribed, cleaned (Mailchimp's hard bounce) or pending (double opt-in
    -- not confirmed); subscribed there is no objection, not consent: our own push subscribes. An
    -- archived member keeps the status it had before (archiving an unsubscribed or cleaned contact
    -- lifts no opt-out, and the API no longer shows it)
    select
        'mailchimp', 'members', m.record_id, 'mailchimp:' || coalesce(m.audience_id, 'audience'), m.email,
        case coalesce(before_archived.status, m.status) when 'unsubscribed' then 'NOT_SUBSCRIBED'
            when 'cleaned' then 'CLEANED' when 'pending' then 'PENDING' else 'NOT_OPTED_OUT' end,
        null, m.changed_at, m.is_deleted
    from staging.stg_mailchimp__members as m
    left join lateral (
        select lower(btrim(r.payload ->> 'status')) as status
        from raw.mailchimp__members as r
        where m.status = 'archived' and r.record_id = m.record_id
            and lower(btrim(r.payload ->> 'status')) <> 'archived'
        order by r.version_at desc
        limit 1
    ) as before_archived on true
    where m.record_id in (select record_id from changed where source = 'mailchimp' and entity = 'members')
    union all
    select
        'mailchimp', 'abuse_reports', a.record_id, 'all', a.email, 'COMPLAINED', null, a.reported_at, a.is_deleted
    from staging.stg_mailchimp__abuse_reports as a
    where a.record_id in (select record_id from changed where source = 'mailchimp' and entity = 'abuse_reports')
),

flags as (
    select 'hubspot' as source, 'contacts' as entity, contact_id as record_id, email, has_email_opt_out,
        version_at, is_deleted
    from staging.stg_hubspot__contacts
    where contact_id in (select record_id from changed where source = 'hubspot' and entity = 'contacts')
    union all
    select 'salesforce', 'leads', lead_id, email, has_email_opt_out, version_at, is_deleted
    from staging.stg_salesforce__leads
    where lead_id in (select record_id from changed where source = 'salesforce' and entity = 'leads')
    union all
    select 'salesforce', 'contacts', contact_id, email, has_email_opt_out, version_at, is_deleted
    from staging.stg_salesforce__contacts
    where contact_id in (select record_id from changed where source = 'salesforce' and entity = 'contacts')
    union all
    select 'file', 'leads', record_id, email, email_opt_out, version_at, is_deleted
    from staging.stg_file__leads
    where record_id in (select record_id from changed where source = 'file' and entity = 'leads')
    union all
    select 'file', 'contacts', record_id, email, email_opt_out, version_at, is_deleted
    from staging.stg_file__contacts
    where record_id in (select record_id from changed where source = 'file' and entity = 'contacts')
    union all
    -- the address of each landed file row that opted out: a later row may give the record another
    select 'file', 'leads', r.record_id, lower(nullif(btrim(r.payload ->> 'email'), '')), true, r.version_at,
        latest.is_deleted
    from raw.file__leads as r
    inner join staging.latest_file__leads as latest on r.record_id = latest.record_id
    where r.record_id in (select record_id from changed where source = 'file' and entity = 'leads')
        and core.is_opt_out_value(r.payload ->> 'email_opt_out')
    union all
    select 'file', 'contacts', r.record_id, lower(nullif(btrim(r.payload ->> 'email'), '')), true, r.version_at,
        latest.is_deleted
    from raw.file__contacts as r
    inner join staging.latest_file__contacts as latest on r.record_id = latest.record_id
    where r.record_id in (select record_id from changed where source = 'file' and entity = 'contacts')
        and core.is_opt_out_value(r.payload ->> 'email_opt_out')
),

opt_outs as (
    select
        flags.source, flags.entity, flags.record_id, 'all' as subscription, flags.email,
        case when flags.has_email_opt_out then 'OPTED_OUT' else 'NOT_OPTED_OUT' end as status,
        null::text as legal_basis, flags.version_at as changed_at, flags.is_deleted as is_record_deleted
    from flags
    where flags.email is not null
),

unioned as (
    select * from statuses
    union all
    select * from opt_outs
),

final as (  -- of one address's rows an opt-out first, then the earliest (when it was first said)
    select distinct on (unioned.source, unioned.entity, unioned.record_id, unioned.subscription, unioned.email)
        unioned.source,
        unioned.entity,
        unioned.record_id,
        unioned.subscription,
        unioned.email,
        unioned.status,
        unioned.legal_basis,
        unioned.changed_at,
        unioned.is_record_deleted
    from unioned
    where unioned.email is not null
    order by unioned.source, unioned.entity, unioned.record_id, unioned.subscription, unioned.email,
        (unioned.status in ('NOT_SUBSCRIBED', 'OPTED_OUT')) desc, unioned.changed_at
),

addresses as (  -- each address's mailbox key computed once, not for each of its rows
    select email, core.mailbox_key(email) as mailbox_key
    from (select distinct email from final) as distinct_addresses
)

select final.*, addresses.mailbox_key
from final
left join addresses on final.email = addresses.email
