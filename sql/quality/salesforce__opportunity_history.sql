-- What the salesforce__opportunity_history suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__opportunity_history.sql),
-- so a payload is cast once, plus whether its opportunity was landed.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.opportunity_id,
    typed.stage_name,
    typed.amount,
    typed.created_at,
    exists (
        select 1 from raw.salesforce__opportunities as o where o.record_id = typed.opportunity_id
    ) as has_opportunity
from {typed} as typed
