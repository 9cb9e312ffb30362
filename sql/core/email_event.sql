-- grain: one row per HubSpot email event, linked to a person holding its mailbox (the mailbox key,
--     as identity resolution keys records) and to the campaign
-- key: source, source_record_id
-- write: upsert
-- Only the events in scope (merge_email_events).
with events as (
    select
        e.*,
        core.mailbox_key(e.email) as email_key
    from staging.stg_hubspot__email_events as e
    where e.event_id in (select event_id from merge_email_events)
),

emails as (
    select mailbox_key as email_key, person_id
    from core.mailbox_owner
    where mailbox_key in (select email_key from events)
)

select
    'hubspot' as source,
    e.event_id as source_record_id,
    k.person_id,
    c.campaign_id,
    e.event_type,
    e.email,
    e.email_key,
    e.occurred_at,
    e.bounce_category,
    e.is_filtered,
    e.portal_subscription_status as subscription_status
from events as e
left join emails as k on e.email_key = k.email_key
left join core.campaign as c on c.source = 'hubspot' and e.email_campaign_id = c.source_record_id
