-- What the salesforce__tasks suite checks: one row per landed activity version (deletions skip checks).
select
    record_id,
    version_at,
    batch_id,
    meta.try_timestamptz(payload ->> 'CreatedDate') as created_at,
    (payload ->> 'WhoId' is not null or payload ->> 'WhatId' is not null) as has_subject_record
from raw.salesforce__tasks
where not is_deleted
