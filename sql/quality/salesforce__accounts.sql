-- What the salesforce__accounts suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__accounts.sql),
-- so a payload is cast once. Deleted accounts are not checked.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.account_name as name,
    typed.created_at
from {typed} as typed
where not typed.is_deleted
