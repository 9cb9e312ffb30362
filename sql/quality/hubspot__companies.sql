-- What the hubspot__companies suite checks: one row per landed company version (deletions skip checks).
select
    record_id,
    version_at,
    batch_id,
    lower(nullif(btrim(payload -> 'properties' ->> 'domain'), '')) as domain,
    nullif(btrim(payload -> 'properties' ->> 'name'), '') as name
from raw.hubspot__companies
where not is_deleted
