-- What the salesforce__leads suite checks: one row per landed lead version (deletions skip checks).
select
    record_id,
    version_at,
    batch_id,
    lower(nullif(btrim(payload ->> 'Email'), '')) as email,
    nullif(btrim(payload ->> 'LastName'), '') as last_name,
    nullif(btrim(payload ->> 'Company'), '') as company,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at
from raw.salesforce__leads
where not is_deleted
