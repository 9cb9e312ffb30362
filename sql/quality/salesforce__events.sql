-- What the salesforce__events suite checks: staging's typed projection of the batch's rows (sql/staging/stg_salesforce__activities.sql),
-- so a payload is cast once.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.occurred_at as created_at,
    (typed.who_id is not null or typed.what_id is not null) as has_subject_record
from {typed} as typed
