-- What the hubspot__contacts suite checks: staging's typed projection of the batch's rows (sql/staging/stg_hubspot__contacts.sql),
-- so a payload is cast once. Deletions (archived contacts) are not checked: a delete must reach core
-- whatever its payload holds.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    typed.email,
    typed.created_at,
    typed.lifecycle_stage
from {typed} as typed
where not typed.is_deleted
