-- Grain: one row per closed-won deal of the deals file drop, its latest version (deleted: missing
-- from the newest file of a snapshot drop).
create or replace view staging.stg_file__deals as
with latest as (
    select * from staging.latest_file__deals
),

final as (
    select
        record_id as deal_id,
        version_at,
        nullif(btrim(payload ->> 'lead_id'), '') as lead_id,
        meta.try_date(payload ->> 'won_date') as won_date,
        nullif(btrim(payload ->> 'segment'), '') as segment,
        coalesce(meta.try_numeric(payload ->> 'revenue'), meta.try_numeric(payload ->> 'declared_revenue'))
            as amount,
        coalesce(nullif(btrim(payload ->> 'currency'), ''), 'EUR') as currency,
        record_id,
        batch_id,
        is_deleted  -- last: create or replace view appends columns only
    from latest
)

select * from final
