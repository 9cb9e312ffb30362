-- Template (see transform.py): bring {latest}, each record's latest version that passed
-- validation and is not quarantined, up to date with the batches being promoted (temp table
-- promoting), and note in merge_changes every record whose latest version moved. The upsert is
-- transform.UPSERT, or nothing when the table is empty (a first load, a full refresh): a plain
-- insert, about twice as fast as a speculative one per row.
with candidates as (
    select distinct on (r.record_id) r.*
    from {table} as r
    inner join promoting as b on r.batch_id = b.batch_id
    where not exists (
        select 1 from quarantine.records as q
        where q.source = {source} and q.entity = {entity}
            and q.record_id = r.record_id and q.version_at = r.version_at
    )
    order by r.record_id, r.version_at desc
),

promoted as (
    insert into {latest} as l
    select * from candidates
    {upsert}
    returning l.record_id
)

insert into merge_changes (source, entity, record_id)
select {source}, {entity}, record_id from promoted
