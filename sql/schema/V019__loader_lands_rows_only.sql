-- The loader lands rows and nothing else. It could change every table before (found: it emptied
-- nurture.manual_suppression, moved extract cursors and deleted applied migrations); now it
-- reads and appends raw tables and registers its batches, so validation picks them up. It
-- cannot mark a batch validated or promoted: those columns are the pipeline's.
revoke select, insert, update, delete, truncate on all tables in schema raw, quarantine, staging, core, marts,
    nurture, meta from smarketing_loader;
revoke usage, select on all sequences in schema core from smarketing_loader;
revoke usage on schema quarantine, staging, core, marts, nurture from smarketing_loader;
alter default privileges in schema raw, quarantine, staging, core, marts, nurture, meta
    revoke select, insert, update, delete, truncate on tables from smarketing_loader;
do $$
begin
    if exists (select 1 from pg_namespace where nspname = 'quality_work') then
        execute 'revoke all on all tables in schema quality_work from smarketing_loader';
        execute 'revoke usage on schema quality_work from smarketing_loader';
    end if;
end
$$;

grant select, insert on all tables in schema raw to smarketing_loader;
alter default privileges in schema raw grant select, insert on tables to smarketing_loader;
grant select (batch_id, run_id, source, entity, rows_received, rows_new, landed_at, validated_at, promoted_at),
    insert (batch_id, run_id, source, entity, rows_received, rows_new, landed_at) on meta.batches
    to smarketing_loader;
