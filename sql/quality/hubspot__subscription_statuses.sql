-- What the hubspot__subscription_statuses suite checks: one row per subscription in each landed
-- status document (a document without subscriptions has nothing to check).
select
    r.record_id,
    r.version_at,
    r.batch_id,
    lower(nullif(btrim(r.payload ->> 'recipient'), '')) as recipient,
    s.value ->> 'id' as subscription_id,
    s.value ->> 'status' as status,
    s.value ->> 'legalBasis' as legal_basis,
    (s.value ->> 'status' <> 'SUBSCRIBED' or s.value ->> 'legalBasis' is not null) as has_basis_if_subscribed
from raw.hubspot__subscription_statuses as r
cross join lateral jsonb_array_elements(coalesce(r.payload -> 'subscriptionStatuses', '[]')) as s (value)
where not r.is_deleted
