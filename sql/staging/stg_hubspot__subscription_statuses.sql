-- Grain: one row per HubSpot contact per email subscription: status and legal basis.
create or replace view staging.stg_hubspot__subscription_statuses as
select
    l.record_id as contact_id,
    l.version_at as changed_at,
    lower(btrim(l.payload ->> 'recipient')) as email,
    s.value ->> 'id' as subscription_id,
    coalesce(s.value ->> 'name', s.value ->> 'id') as subscription_name,
    s.value ->> 'status' as status,
    s.value ->> 'legalBasis' as legal_basis,
    l.record_id,
    l.version_at,
    l.batch_id
from staging.latest_hubspot__subscription_statuses as l
cross join lateral jsonb_array_elements(coalesce(l.payload -> 'subscriptionStatuses', '[]')) as s (value)
where not l.is_deleted
