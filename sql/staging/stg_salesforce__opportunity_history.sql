-- Grain: one row per Salesforce stage change of an opportunity.
-- lookup: salesforce__opportunity_history (payload ->> 'OpportunityId')
create or replace view staging.stg_salesforce__opportunity_history as
select
    record_id as history_id,
    payload ->> 'OpportunityId' as opportunity_id,
    payload ->> 'StageName' as stage_name,
    meta.try_numeric(payload ->> 'Amount') as amount,
    meta.try_numeric(payload ->> 'Probability') as probability,
    meta.try_date(payload ->> 'CloseDate') as close_date,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    record_id,
    version_at,
    batch_id
from staging.latest_salesforce__opportunity_history as latest
where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false)
