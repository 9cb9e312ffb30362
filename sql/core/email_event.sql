-- grain: one row per email event (HubSpot, file drops), linked to a person holding its mailbox (the
--     mailbox key, as identity resolution keys records) and to the campaign
-- key: source, source_record_id
-- write: upsert
-- Only the events in scope (merge_email_events). A file drop's event types become HubSpot's: a
-- hard bounce is a BOUNCE of category HARD_BOUNCE (suppressed whatever the hard-bounce categories
-- of config/nurture.yaml say), an unsubscribe a STATUSCHANGE to UNSUBSCRIBED.
with events as (
    select
        'hubspot' as source, e.event_id, e.event_type, e.email, e.occurred_at, e.email_campaign_id,
        e.bounce_category, e.is_filtered, e.portal_subscription_status
    from staging.stg_hubspot__email_events as e
    where e.event_id in (select event_id from merge_email_events where source = 'hubspot')
    union all
    select
        'file', e.record_id,
        case e.type
            when 'send' then 'SENT' when 'delivered' then 'DELIVERED' when 'open' then 'OPEN' when 'click' then 'CLICK'
            when 'hard_bounce' then 'BOUNCE' when 'soft_bounce' then 'BOUNCE' when 'complaint' then 'SPAMREPORT'
            else 'STATUSCHANGE'
        end,
        e.email, e.occurred_at, e.campaign_id,
        case e.type when 'hard_bounce' then 'HARD_BOUNCE' when 'soft_bounce' then 'SOFT_BOUNCE' end,
        false,
        case e.type when 'unsubscribe' then 'UNSUBSCRIBED' when 'resubscribe' then 'SUBSCRIBED' end
    from staging.stg_file__email_events as e
    where not e.is_deleted and e.record_id in (select event_id from merge_email_events where source = 'file')
),

addresses as (  -- each address's mailbox key computed once, not for each of its events
    select email, core.mailbox_key(email) as email_key
    from (select distinct email from events) as distinct_addresses
),

keyed as (
    select e.*, a.email_key
    from events as e
    left join addresses as a on e.email = a.email
),

emails as (  -- each mailbox's owner: all owners sorted for a whole scope (a first load), else looked
             -- up per mailbox (its key pushed into the view: an index scan)
    select mailbox_key as email_key, person_id
    from core.mailbox_owner
    where cast(:whole as boolean) and mailbox_key in (select email_key from keyed)
    union all
    select keys.email_key, owner.person_id
    from (select distinct email_key from addresses where email_key is not null) as keys
    cross join lateral (  -- limit: a subquery the planner cannot pull up into a join of the whole view
        select o.person_id from core.mailbox_owner as o where o.mailbox_key = keys.email_key limit 1
    ) as owner
    where not cast(:whole as boolean)
)

select
    e.source,
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
from keyed as e
left join emails as k on e.email_key = k.email_key
left join core.campaign as c on e.source = c.source and e.email_campaign_id = c.source_record_id
