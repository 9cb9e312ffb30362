-- What the salesforce__opportunity_history suite checks: one row per landed stage change.
select
    h.record_id,
    h.version_at,
    h.batch_id,
    h.payload ->> 'OpportunityId' as opportunity_id,
    h.payload ->> 'StageName' as stage_name,
    meta.try_numeric(h.payload ->> 'Amount') as amount,
    meta.try_timestamptz(h.payload ->> 'CreatedDate') as created_at,
    exists (
        select 1 from raw.salesforce__opportunities as o where o.record_id = h.payload ->> 'OpportunityId'
    ) as has_opportunity
from raw.salesforce__opportunity_history as h
where not h.is_deleted
