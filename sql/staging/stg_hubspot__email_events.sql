-- Grain: one row per HubSpot email event (events are immutable: one version each).
create or replace view staging.stg_hubspot__email_events as
with events as (
    select r.*
    from raw.hubspot__email_events as r
    inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
    where not exists (
        select 1 from quarantine.records as q
        where q.source = 'hubspot' and q.entity = 'email_events'
            and q.record_id = r.record_id and q.version_at = r.version_at
    )
),

final as (
    select
        record_id as event_id,
        upper(payload ->> 'type') as event_type,
        lower(nullif(btrim(payload ->> 'recipient'), '')) as email,
        to_timestamp((payload ->> 'created')::bigint / 1000.0) as occurred_at,
        payload ->> 'emailCampaignId' as email_campaign_id,
        payload ->> 'category' as bounce_category,
        payload ->> 'portalSubscriptionStatus' as portal_subscription_status
    from events
)

select * from final
