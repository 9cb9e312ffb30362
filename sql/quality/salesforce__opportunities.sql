-- What the salesforce__opportunities suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__opportunities.sql),
-- so a payload is cast once, plus whether its account was landed.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.amount,
    typed.currency,
    typed.stage_name,
    typed.close_date,
    typed.created_at,
    (
        typed.account_id is null
        or exists (select 1 from raw.salesforce__accounts as a where a.record_id = typed.account_id)
    ) as has_account
from {typed} as typed
where not typed.is_deleted
