-- Grain: one row per lead of the leads file drop (config/file_drops.yaml), its latest version
-- (deleted: missing from the newest file of a snapshot drop).
create or replace view staging.stg_file__leads as
with latest as (
    select * from staging.latest_file__leads
),

final as (
    select
        record_id as lead_id,
        version_at,
        lower(nullif(btrim(payload ->> 'email'), '')) as email,
        nullif(btrim(payload ->> 'first_name'), '') as first_name,
        nullif(btrim(payload ->> 'last_name'), '') as last_name,
        nullif(btrim(payload ->> 'company'), '') as company_name,
        nullif(btrim(payload ->> 'origin_channel'), '') as origin_channel,
        nullif(btrim(payload ->> 'landing_page'), '') as landing_page,
        meta.try_date(payload ->> 'first_contact_date')::timestamptz as created_at,
        meta.try_date(payload ->> 'mql_date')::timestamptz as mql_at,
        meta.try_date(payload ->> 'sql_date') as converted_date,
        core.is_opt_out_value(payload ->> 'email_opt_out') as has_email_opt_out,
        record_id,
        batch_id,
        is_deleted  -- last: create or replace view appends columns only
    from latest
)

select * from final
