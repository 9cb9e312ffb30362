-- What the salesforce__leads suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__leads.sql),
-- so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.email,
    typed.last_name,
    typed.company_name as company,
    typed.created_at
from {typed} as typed
where not typed.is_deleted
