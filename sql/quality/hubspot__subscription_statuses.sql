-- What the hubspot__subscription_statuses suite checks: staging's typed projection of the batch's rows (sql/staging/stg_hubspot__subscription_statuses.sql),
-- so a payload is cast once: one row per contact version and
-- subscription.
select
    typed.record_id,
    typed.version_at,
    typed.batch_id,
    nullif(typed.email, '') as recipient,
    typed.subscription_id,
    typed.status,
    typed.legal_basis,
    (typed.status <> 'SUBSCRIBED' or typed.legal_basis is not null) as has_basis_if_subscribed
from {typed} as typed
