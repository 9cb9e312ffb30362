-- What the file__deals suite checks: staging's typed projection of the batch's rows (sql/staging/stg_file__deals.sql),
-- so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.lead_id,
    typed.amount,
    typed.currency,
    typed.won_date::timestamptz as won_at
from {typed} as typed
