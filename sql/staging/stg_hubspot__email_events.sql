-- Grain: one row per HubSpot email event (events are immutable: one version each).
create or replace view staging.stg_hubspot__email_events as
select
    record_id as event_id,
    upper(payload ->> 'type') as event_type,
    lower(nullif(btrim(payload ->> 'recipient'), '')) as email,
    meta.try_epoch_ms(payload ->> 'created') as occurred_at,
    payload ->> 'emailCampaignId' as email_campaign_id,
    payload ->> 'category' as bounce_category,
    payload ->> 'portalSubscriptionStatus' as portal_subscription_status,
    coalesce(meta.try_boolean(payload ->> 'filteredEvent'), false) as is_filtered,
    record_id,
    version_at,
    batch_id
from staging.latest_hubspot__email_events as events
