-- Grain: one row per lead or contact in a Salesforce campaign.
-- lookup: salesforce__campaign_members (payload ->> 'CampaignId')
-- lookup: salesforce__campaign_members (payload ->> 'LeadId')
-- lookup: salesforce__campaign_members (payload ->> 'ContactId')
create or replace view staging.stg_salesforce__campaign_members as
select
    record_id as campaign_member_id,
    payload ->> 'CampaignId' as campaign_id,
    payload ->> 'LeadId' as lead_id,
    payload ->> 'ContactId' as contact_id,
    payload ->> 'Status' as member_status,
    coalesce(meta.try_boolean(payload ->> 'HasResponded'), false) as has_responded,
    coalesce(
        meta.try_date(payload ->> 'FirstRespondedDate')::timestamptz,
        meta.try_timestamptz(payload ->> 'CreatedDate')
    ) as responded_at
from staging.latest_salesforce__campaign_members as latest
where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false)
