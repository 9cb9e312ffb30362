-- grain: one row per HubSpot email campaign
-- key: campaign_id
-- write: replace
-- Unique counts are distinct recipients; events the source flags as filtered (bots, security
-- scanners) are left out. Rates: delivered / sent, unique opens / delivered, unique clicks / unique
-- opens, bounces / sent, unsubscribes / delivered.
with events as (
    select * from core.email_event
    where not is_filtered and campaign_id is not null and occurred_at < cast(:as_of as date) + 1
),

counts as (
    select
        campaign_id,
        count(distinct email) filter (where event_type = 'SENT') as sent,
        count(distinct email) filter (where event_type = 'DELIVERED') as delivered,
        count(distinct email) filter (where event_type = 'OPEN') as unique_opens,
        count(distinct email) filter (where event_type = 'CLICK') as unique_clicks,
        count(distinct email) filter (where event_type = 'BOUNCE') as bounces,
        count(distinct email) filter (where event_type = 'STATUSCHANGE') as unsubscribes
    from events group by campaign_id
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
