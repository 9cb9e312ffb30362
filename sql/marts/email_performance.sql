-- grain: one row per email campaign (HubSpot, file drops)
-- key: campaign_id
-- write: replace
-- Unique counts are distinct recipients (by mailbox key, so case and +tag variants of an address
-- count once); events the source flags as filtered (bots, security scanners) are left out. An
-- event implies the ones before it, as exports often lack them: a bounce, delivery, open, click,
-- unsubscribe or complaint means the email was sent; all but a bounce that it was delivered; a
-- click that it was opened.
-- Rates: delivered / sent, unique opens / delivered, unique clicks / unique opens, bounces / sent,
-- unsubscribes / delivered. An unsubscribe (a change to UNSUBSCRIBED, not a re-subscribe) counts
-- once per mailbox, for the campaign of its first: the one that lost the reader.
with events as (  -- read twice, so stored: only the columns used
    select
        source, source_record_id, campaign_id, event_type, subscription_status, occurred_at,
        coalesce(email_key, core.mailbox_key(email)) as recipient,
        coalesce(event_type = 'STATUSCHANGE' and subscription_status is distinct from 'UNSUBSCRIBED', false)
            as is_resubscribe
    from core.email_event
    where not is_filtered and occurred_at < :cutoff
),

first_unsubscribes as (
    select distinct on (recipient) source, source_record_id
    from events
    where event_type = 'STATUSCHANGE' and subscription_status = 'UNSUBSCRIBED'
    order by recipient, occurred_at, source, source_record_id
),

recipients as (  -- one row per campaign and mailbox: what reached it (a sort of the events, not one per count)
    select
        e.campaign_id,
        e.recipient,
        bool_or(e.event_type in ('SENT', 'DELIVERED', 'BOUNCE', 'OPEN', 'CLICK')
            or (e.event_type in ('STATUSCHANGE', 'SPAMREPORT') and not e.is_resubscribe)) as was_sent,
        bool_or(e.event_type in ('DELIVERED', 'OPEN', 'CLICK')
            or (e.event_type in ('STATUSCHANGE', 'SPAMREPORT') and not e.is_resubscribe)) as was_delivered,
        bool_or(e.event_type in ('OPEN', 'CLICK')) as opened,
        bool_or(e.event_type = 'CLICK') as clicked,
        bool_or(e.event_type = 'BOUNCE') as bounced,
        bool_or(f.source_record_id is not null) as unsubscribed_first
    from events as e
    left join first_unsubscribes as f on e.source = f.source and e.source_record_id = f.source_record_id
    where e.campaign_id is not null and e.recipient is not null
    group by e.campaign_id, e.recipient
),

counts as (
    select
        campaign_id,
        count(*) filter (where was_sent) as sent,
        count(*) filter (where was_delivered) as delivered,
        count(*) filter (where opened) as unique_opens,
        count(*) filter (where clicked) as unique_clicks,
        count(*) filter (where bounced) as bounces,
        count(*) filter (where unsubscribed_first) as unsubscribes
    from recipients
    group by campaign_id
),

final as (
    select
        c.campaign_id, cp.name as campaign_name, c.sent, c.delivered, c.unique_opens, c.unique_clicks, c.bounces,
        c.unsubscribes,
        round(c.delivered::numeric / nullif(c.sent, 0), 4) as delivery_rate,
        round(c.unique_opens::numeric / nullif(c.delivered, 0), 4) as unique_open_rate,
        round(c.unique_clicks::numeric / nullif(c.unique_opens, 0), 4) as click_to_open_rate,
        round(c.bounces::numeric / nullif(c.sent, 0), 4) as bounce_rate,
        round(c.unsubscribes::numeric / nullif(c.delivered, 0), 4) as unsubscribe_rate
    from counts as c
    inner join core.campaign as cp on c.campaign_id = cp.campaign_id
)

select * from final
