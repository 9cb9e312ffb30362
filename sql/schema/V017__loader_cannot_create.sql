-- The loader writes rows; it creates nothing. A view or function it could create in a schema the
-- transform reads would run with the privileges of whoever runs the transform (found: a loader
-- login made itself superuser through one view in raw and one meta.batches row).
revoke create on schema raw, quarantine, staging, core, marts, nurture, meta from smarketing_loader;
do $$
begin
    if exists (select 1 from pg_namespace where nspname = 'quality_work') then
        execute 'revoke create on schema quality_work from smarketing_loader';
    end if;
end
$$;
