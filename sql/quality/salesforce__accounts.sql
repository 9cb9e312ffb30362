-- What the salesforce__accounts suite checks: one row per landed account version (deletions skip checks).
select
    record_id,
    version_at,
    batch_id,
    nullif(btrim(payload ->> 'Name'), '') as name,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at
from raw.salesforce__accounts
where not is_deleted
