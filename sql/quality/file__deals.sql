-- What the file__deals suite checks: one row per landed closed-deal row.
select
    record_id,
    version_at,
    batch_id,
    nullif(btrim(payload ->> 'lead_id'), '') as lead_id,
    coalesce(meta.try_numeric(payload ->> 'revenue'), meta.try_numeric(payload ->> 'declared_revenue')) as amount,
    meta.try_date(payload ->> 'won_date')::timestamptz as won_at
from raw.file__deals
