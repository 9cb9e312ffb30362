-- Grain: one row per HubSpot owner (a sales rep, active or archived), its latest version.
create or replace view staging.stg_hubspot__owners as
select
    record_id as owner_id,
    nullif(concat_ws(' ', nullif(payload ->> 'firstName', ''), nullif(payload ->> 'lastName', '')), '')
        as owner_name,
    not coalesce(meta.try_boolean(payload ->> 'archived'), false) as is_active,
    version_at
from staging.latest_hubspot__owners as latest
where not is_deleted
