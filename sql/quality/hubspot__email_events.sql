-- What the hubspot__email_events suite checks: staging's typed projection of the batch's rows (sql/staging/stg_hubspot__email_events.sql),
-- so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.event_type,
    typed.email as recipient,
    typed.occurred_at
from {typed} as typed
