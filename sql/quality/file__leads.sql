-- What the file__leads suite checks: staging's typed projection of the batch's rows (sql/staging/stg_file__leads.sql),
-- so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.email,
    typed.created_at::date as first_contact_date
from {typed} as typed
