-- What the mailchimp__members suite checks: staging's typed projection of the batch's rows
-- (sql/staging/stg_mailchimp__members.sql), so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    nullif(typed.email, '') as email,
    typed.status
from {typed} as typed
