-- What the salesforce__contacts suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__contacts.sql),
-- so a payload is cast once, plus whether its account was landed.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.email,
    typed.last_name,
    typed.created_at,
    (
        typed.account_id is null
        or exists (select 1 from raw.salesforce__accounts as a where a.record_id = typed.account_id)
    ) as has_account
from {typed} as typed
where not typed.is_deleted
