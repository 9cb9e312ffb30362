-- Grain: one row per campaign: Salesforce campaigns and HubSpot email campaigns.
insert into core.campaign (source, source_record_id, name, campaign_type, channel, started_at)
with campaigns as (
    select 'salesforce' as source, campaign_id, campaign_name, campaign_type,
        case when campaign_type = 'Email' then 'email' else lower(coalesce(campaign_type, 'other')) end as channel,
        started_at
    from staging.stg_salesforce__campaigns
    union all
    select 'hubspot', campaign_id, campaign_name, campaign_type, 'email', started_at
    from staging.stg_hubspot__campaigns
)

select * from campaigns
on conflict (source, source_record_id) do update
set name = excluded.name, campaign_type = excluded.campaign_type, channel = excluded.channel,
    started_at = excluded.started_at
where (core.campaign.name, core.campaign.campaign_type, core.campaign.channel, core.campaign.started_at)
    is distinct from (excluded.name, excluded.campaign_type, excluded.channel, excluded.started_at)
