-- Grain: one row per HubSpot email campaign.
create or replace view staging.stg_hubspot__campaigns as
select
    record_id as campaign_id,
    coalesce(payload ->> 'name', payload ->> 'subject') as campaign_name,
    payload ->> 'type' as campaign_type,
    meta.try_epoch_ms(payload ->> 'lastUpdatedTime') as started_at
from staging.latest_hubspot__campaigns as latest
