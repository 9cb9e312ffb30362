-- What the hubspot__companies suite checks: staging's typed projection of the batch's rows (sql/staging/stg_hubspot__companies.sql),
-- so a payload is cast once. Deleted companies are not checked.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.domain,
    typed.company_name as name
from {typed} as typed
where not typed.is_deleted
