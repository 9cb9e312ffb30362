-- Template (see transform.py): for every raw table, a view of each record's latest version that
-- passed validation and is not quarantined. Grain: one row per source record.
create or replace view staging.{view} as
select distinct on (r.record_id) r.*
from raw.{table} as r
inner join meta.batches as b on r.batch_id = b.batch_id and b.validated_at is not null
where not exists (
    select 1 from quarantine.records as q
    where q.source = {source} and q.entity = {entity}
        and q.record_id = r.record_id and q.version_at = r.version_at
)
order by r.record_id, r.version_at desc
