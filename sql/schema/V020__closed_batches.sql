-- A batch is closed once validation has checked it: no row may join it afterwards. Found: a
-- loader login added rows (one with a malformed address) to a batch validated long before, and a
-- full refresh promoted them into core unchecked. One statement-level check per insert or COPY,
-- over the rows it added; it runs as the inserting role, which reads batch_id and validated_at.
create function meta.refuse_rows_of_checked_batches() returns trigger
language plpgsql set search_path = pg_catalog as $$
begin
    if exists (select 1 from new_rows as n join meta.batches as b on b.batch_id = n.batch_id
               where b.validated_at is not null) then
        raise exception '%.%: rows for a batch validation has already checked', tg_table_schema, tg_table_name
            using errcode = 'check_violation',
                  hint = 'Register a new batch in meta.batches for these rows; validation checks it on its next run.';
    end if;
    return null;
end
$$;

create procedure meta.close_checked_batches(raw_table regclass)
language plpgsql set search_path = pg_catalog as $$
begin
    if not exists (select from pg_trigger where tgrelid = raw_table and tgname = 'refuse_rows_of_checked_batches') then
        execute format('create trigger refuse_rows_of_checked_batches after insert on %s'
                       ' referencing new table as new_rows for each statement'
                       ' execute function meta.refuse_rows_of_checked_batches()', raw_table);
    end if;
end
$$;

do $$
declare
    landing regclass;
begin
    for landing in select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = 'raw' and c.relkind = 'r'
                     and exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'batch_id'
                                 and not a.attisdropped) loop
        call meta.close_checked_batches(landing);
    end loop;
end
$$;
