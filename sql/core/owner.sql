-- grain: one row per sales rep (owner id) per system, with the name its records give
-- key: source, owner_id
-- write: upsert
-- The name of an owner id: a CRM's users (Salesforce User, HubSpot owners), and every file-drop record that names
-- both (leads, contacts, deals, activities), where the latest record's name wins.
with named as (
    select owner_id, owner_name, version_at from staging.stg_file__leads
    union all
    select owner_id, owner_name, version_at from staging.stg_file__contacts
    union all
    select owner_id, owner_name, version_at from staging.stg_file__deals
    union all
    select owner_id, owner_name, version_at from staging.stg_file__activities
),

from_files as (
    select distinct on (owner_id) 'file' as source, owner_id, owner_name as name
    from named
    where owner_id is not null and owner_name is not null
    order by owner_id, version_at desc, owner_name
),

final as (
    select * from from_files
    union all
    select 'salesforce', user_id, user_name from staging.stg_salesforce__users where user_name is not null
    union all
    select 'hubspot', owner_id, owner_name from staging.stg_hubspot__owners where owner_name is not null
)

select * from final
