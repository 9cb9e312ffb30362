-- Incremental merge. Each raw table gets a table of its records' latest valid versions
-- (staging.latest_<table>, created by transform.py), kept up to date from the batches validated
-- since the last merge; the merge then recomputes only what those records touch.

-- The latest-version views of earlier versions become tables; the views on them are recreated
-- by the next merge.
do $$
declare
    v record;
begin
    for v in select table_name from information_schema.views
             where table_schema = 'staging' and table_name like 'latest\_%'
    loop
        execute format('drop view staging.%I cascade', v.table_name);
    end loop;
end
$$;

-- When a batch's rows reached staging.latest_<table> (null: not yet).
alter table meta.batches add column promoted_at timestamptz;
create index batches_unpromoted on meta.batches (source, entity)
    where validated_at is not null and promoted_at is null;

-- The normalised address an email event was linked by, so a person's events are found again
-- when identity resolution moves the address.
alter table core.email_event add column email_key text;
create index on core.email_event (email_key);

-- Joins from persons to their activity (marts, nurture lists, incremental scopes).
create index on core.email_event (person_id);
create index on core.touchpoint (person_id, occurred_at);
create index on core.activity (person_id, occurred_at);
create index on core.opportunity_daily (opportunity_id);
