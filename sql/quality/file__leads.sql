-- What the file__leads suite checks: one row per landed file-drop lead.
select
    record_id,
    version_at,
    batch_id,
    nullif(btrim(payload ->> 'email'), '') as email,
    meta.try_date(payload ->> 'first_contact_date') as first_contact_date
from raw.file__leads
