-- grain: one row per campaign
-- key: source, source_record_id
-- write: upsert
-- Salesforce campaigns, HubSpot email campaigns and file-drop campaigns.
with campaigns as (
    select 'salesforce' as source, campaign_id as source_record_id, campaign_name as name, campaign_type,
        case when campaign_type = 'Email' then 'email' else lower(coalesce(campaign_type, 'other')) end as channel,
        started_at
    from staging.stg_salesforce__campaigns
    union all
    select 'hubspot', campaign_id, campaign_name, campaign_type, 'email', started_at
    from staging.stg_hubspot__campaigns
    union all
    select 'file', record_id, name, type, coalesce(lower(channel), lower(type), 'other'), start_date
    from staging.stg_file__campaigns
    where not is_deleted
)

select * from campaigns
