-- What the salesforce__contacts suite checks: one row per landed contact version (deletions skip checks).
select
    c.record_id,
    c.version_at,
    c.batch_id,
    lower(nullif(btrim(c.payload ->> 'Email'), '')) as email,
    nullif(btrim(c.payload ->> 'LastName'), '') as last_name,
    meta.try_timestamptz(c.payload ->> 'CreatedDate') as created_at,
    (
        c.payload ->> 'AccountId' is null
        or exists (select 1 from raw.salesforce__accounts as a where a.record_id = c.payload ->> 'AccountId')
    ) as has_account
from raw.salesforce__contacts as c
where not c.is_deleted
