-- grain: one row per marketing interaction of a person
-- key: source, source_record_id, touch_type
-- write: scoped
-- scope: person_id in (select person_id from merge_persons) or exists (select 1 from merge_changes as c
--     where c.source = touchpoint.source and c.entity in ('email_events', 'form_submissions', 'campaign_members')
--     and c.record_id = touchpoint.source_record_id) or exists (select 1 from merge_email_events as m
--     where m.source = touchpoint.source and m.event_id = touchpoint.source_record_id)
--     or (touch_type = 'campaign_response' and campaign_id in (select k.campaign_id from core.campaign as k
--     inner join merge_changes as c on c.entity = 'campaigns' and c.source = k.source
--     and c.record_id = k.source_record_id))
-- Email opens and clicks (bot-filtered ones excluded), form submissions, and campaign responses
-- (Salesforce and file-drop campaign members), with the person's account. The touchpoints in
-- scope (of the persons or email events in scope, from changed records, and the responses to the
-- campaigns that changed) are deleted (scope) and inserted again. A record's scope is looked up in
-- the indexed scope tables (exists), never in a list joined by "or": a list too large to hash
-- (a first load of a million persons) would be read again for every row. Unless every record is in
-- scope (whole), Salesforce campaign members are found by id, contact, lead and campaign in the
-- lookup indexes their view declares.
with changed_campaigns as (
    select source, record_id from merge_changes where entity = 'campaigns'
),

scoped_records as (  -- the Salesforce leads and contacts of the persons in scope
    select source_record_id from core.person_identity
    where source = 'salesforce' and entity in ('leads', 'contacts') and is_active
        and person_id in (select person_id from merge_persons)
),

email_touches as (
    select
        e.source, e.source_record_id, lower(e.event_type) as touch_type, e.person_id, e.campaign_id,
        'email' as channel, e.occurred_at
    from core.email_event as e
    where e.event_type in ('OPEN', 'CLICK') and not e.is_filtered
        and (e.person_id in (select person_id from merge_persons)
            or exists (select 1 from merge_email_events as m
                       where m.source = e.source and m.event_id = e.source_record_id))
),

forms as (  -- the submissions in scope: changed ones, and those from an address of a person in scope
    select
        f.submission_id, f.submitted_at,
        core.mailbox_key(f.email) as email_key
    from staging.stg_hubspot__form_submissions as f
    where exists (select 1 from merge_changes as c
                  where c.source = 'hubspot' and c.entity = 'form_submissions' and c.record_id = f.submission_id)
        or core.mailbox_key(f.email) in (
            select mailbox_key from core.record_mailbox where person_id in (select person_id from merge_persons)
        )
),

form_touches as (  -- each submission's mailbox owner: all owners hashed for a whole scope, else
                    -- looked up per submission (its key pushed into the view, an index scan)
    select
        'hubspot' as source, f.submission_id, 'form_submission', k.person_id, null::bigint, 'web', f.submitted_at
    from forms as f
    inner join core.mailbox_owner as k on f.email_key = k.mailbox_key
    where cast(:whole as boolean)
    union all
    select
        'hubspot' as source, f.submission_id, 'form_submission', k.person_id, null::bigint, 'web', f.submitted_at
    from forms as f
    cross join lateral (  -- limit: a subquery the planner cannot pull up into a join of the whole view
        select o.person_id from core.mailbox_owner as o where o.mailbox_key = f.email_key limit 1
    ) as k
    where not cast(:whole as boolean)
),

campaign_touches as (
    select
        'salesforce', m.campaign_member_id, 'campaign_response', i.person_id, c.campaign_id, c.channel,
        m.responded_at
    from staging.stg_salesforce__campaign_members as m
    inner join core.person_identity as i  -- the contact if there is one, else the lead
        on i.source = 'salesforce' and i.is_active
            and i.entity = case when m.contact_id is null then 'leads' else 'contacts' end
            and i.source_record_id = coalesce(m.contact_id, m.lead_id)
    left join core.campaign as c on c.source = 'salesforce' and m.campaign_id = c.source_record_id
    where m.has_responded
        and (i.person_id in (select person_id from merge_persons)
            or exists (select 1 from merge_changes as c where c.source = 'salesforce'
                       and c.entity = 'campaign_members' and c.record_id = m.campaign_member_id)
            or exists (select 1 from changed_campaigns as c where c.source = 'salesforce' and c.record_id = m.campaign_id))
        and (cast(:whole as boolean)
            or m.campaign_member_id = any(array(select record_id from merge_changes
                                                where source = 'salesforce' and entity = 'campaign_members'))
            or m.contact_id = any(array(select source_record_id from scoped_records))
            or m.lead_id = any(array(select source_record_id from scoped_records))
            or m.campaign_id = any(array(select record_id from changed_campaigns where source = 'salesforce')))
),

file_campaign_touches as (
    select
        'file', m.record_id, 'campaign_response', i.person_id, c.campaign_id, c.channel,
        coalesce(m.responded_at, c.started_at)
    from staging.stg_file__campaign_members as m
    inner join core.person_identity as i
        on i.source = 'file' and i.is_active and i.entity = m.person_entity and i.source_record_id = m.person_record_id
    left join core.campaign as c on c.source = 'file' and m.campaign_id = c.source_record_id
    where not m.is_deleted and (m.responded or m.responded_at is not null)
        and (i.person_id in (select person_id from merge_persons)
            or exists (select 1 from merge_changes as c
                       where c.source = 'file' and c.entity = 'campaign_members' and c.record_id = m.record_id)
            or exists (select 1 from changed_campaigns as c where c.source = 'file' and c.record_id = m.campaign_id))
),

unioned as (
    select * from email_touches
    union all select * from form_touches
    union all select * from campaign_touches
    union all select * from file_campaign_touches
)

select
    u.source, u.source_record_id, u.touch_type, p.person_id, p.account_id, u.campaign_id, u.channel, u.occurred_at
from unioned as u
inner join core.person as p on u.person_id = p.person_id
where u.occurred_at is not null
    and (u.person_id in (select person_id from merge_persons)
        or exists (select 1 from merge_changes as c where c.source = u.source
                   and c.entity in ('email_events', 'form_submissions', 'campaign_members')
                   and c.record_id = u.source_record_id)
        or exists (select 1 from merge_email_events as m where m.source = u.source and m.event_id = u.source_record_id)
        or (u.touch_type = 'campaign_response' and u.campaign_id in (
            select k.campaign_id from core.campaign as k inner join changed_campaigns as c
            on c.source = k.source and c.record_id = k.source_record_id)))
