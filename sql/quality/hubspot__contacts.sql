-- What the hubspot__contacts suite checks: one row per landed contact version. Deletions
-- (archived contacts) are not checked: a delete must reach core whatever its payload holds.
select
    record_id,
    version_at,
    batch_id,
    nullif(btrim(payload -> 'properties' ->> 'email'), '') as email,
    meta.try_timestamptz(payload -> 'properties' ->> 'createdate') as created_at,
    payload -> 'properties' ->> 'lifecyclestage' as lifecycle_stage
from raw.hubspot__contacts
where not is_deleted
