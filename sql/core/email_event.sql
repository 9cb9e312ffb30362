-- Grain: one row per HubSpot email event, linked to a person holding its mailbox (the mailbox key,
-- as identity resolution keys records) and to the campaign. Only the events in scope (merge_email_events).
insert into core.email_event (source, source_record_id, person_id, campaign_id, event_type, email, email_key,
    occurred_at, bounce_category, is_filtered, subscription_status)
with events as (
    select
        e.*,
        core.mailbox_key(e.email) as email_key
    from staging.stg_hubspot__email_events as e
    where e.event_id in (select event_id from merge_email_events)
),

emails as (
    select distinct on (r.email_key) r.email_key, i.person_id
    from identity_records as r
    inner join core.person_identity as i
        on (i.source, i.entity, i.source_record_id) = (r.source, r.entity, r.record_id) and i.is_active
    where r.email_key in (select email_key from events)
    order by r.email_key, i.person_id
)

select
    'hubspot' as source,
    e.event_id,
    k.person_id,
    c.campaign_id,
    e.event_type,
    e.email,
    e.email_key,
    e.occurred_at,
    e.bounce_category,
    e.is_filtered,
    e.portal_subscription_status
from events as e
left join emails as k on e.email_key = k.email_key
left join core.campaign as c on c.source = 'hubspot' and e.email_campaign_id = c.source_record_id
on conflict (source, source_record_id) do update
set person_id = excluded.person_id, campaign_id = excluded.campaign_id, email_key = excluded.email_key,
    subscription_status = excluded.subscription_status
where (core.email_event.person_id, core.email_event.campaign_id, core.email_event.email_key,
    core.email_event.subscription_status)
    is distinct from (excluded.person_id, excluded.campaign_id, excluded.email_key, excluded.subscription_status)
