-- Grain: one row per closed-won deal of the deals file drop, its latest version.
create or replace view staging.stg_file__deals as
with versions as (
    select r.*
    from raw.file__deals as r
    inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
    where not exists (
        select 1 from quarantine.records as q
        where q.source = 'file' and q.entity = 'deals'
            and q.record_id = r.record_id and q.version_at = r.version_at
    )
),

latest as (
    select distinct on (record_id) *
    from versions
    order by record_id, version_at desc
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
        coalesce(nullif(btrim(payload ->> 'currency'), ''), 'EUR') as currency
    from latest
)

select * from final
