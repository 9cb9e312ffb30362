-- Grain: one row per Salesforce campaign.
create or replace view staging.stg_salesforce__campaigns as
select
    record_id as campaign_id,
    payload ->> 'Name' as campaign_name,
    payload ->> 'Type' as campaign_type,
    meta.try_date(payload ->> 'StartDate')::timestamptz as started_at
from staging.latest_salesforce__campaigns as latest
where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false)
