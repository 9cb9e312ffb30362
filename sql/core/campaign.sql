-- grain: one row per campaign
-- key: source, source_record_id
-- write: upsert
-- Salesforce campaigns, HubSpot email campaigns and file-drop campaigns. The channel is the
-- campaign's (file drops), else its type lower-cased; empty when neither says (the marts' unknown).
with campaigns as (
    select 'salesforce' as source, campaign_id as source_record_id, campaign_name as name, campaign_type,
        lower(nullif(btrim(campaign_type), '')) as channel,
        started_at
    from staging.stg_salesforce__campaigns
    union all
    select 'hubspot', campaign_id, campaign_name, campaign_type, 'email', started_at
    from staging.stg_hubspot__campaigns
    union all
    select 'file', record_id, name, type, lower(coalesce(nullif(btrim(channel), ''), nullif(btrim(type), ''))),
        start_date
    from staging.stg_file__campaigns
    where not is_deleted
)

select * from campaigns
