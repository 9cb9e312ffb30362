-- Grain: one row per Salesforce user (the sales reps who own records), its latest version.
create or replace view staging.stg_salesforce__users as
select
    record_id as user_id,
    coalesce(nullif(payload ->> 'Name', ''),
             nullif(concat_ws(' ', payload ->> 'FirstName', payload ->> 'LastName'), '')) as user_name,
    coalesce(meta.try_boolean(payload ->> 'IsActive'), true) as is_active,
    version_at
from staging.latest_salesforce__users as latest
where not is_deleted
