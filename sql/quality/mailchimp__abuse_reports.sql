-- What the mailchimp__abuse_reports suite checks: staging's typed projection of the batch's rows
-- (sql/staging/stg_mailchimp__abuse_reports.sql), so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    nullif(typed.email, '') as email
from {typed} as typed
