-- Run by an administrator (a superuser) in the warehouse database, before the pipeline's first
-- run and after an upgrade; running it again changes nothing.
--
-- The pipeline never runs as superuser. It connects as smarketing_owner, a plain login that owns
-- the database, the pipeline's schemas and every object in them, and runs the migrations.
-- smarketing_loader writes rows and creates nothing; smarketing_bi and smarketing_marketing read.
-- The administrator sets smarketing_owner's password afterwards
-- (`alter role smarketing_owner password '...'`).
--
-- Objects an earlier version made as a superuser (or as the administrator running this, such as a
-- managed server's master user) are handed to smarketing_owner. An object in a pipeline schema
-- owned by any other role stops the script: the pipeline would run it with its own rights (a
-- loader's view calling a loader's function), so a person must look at it first.
set search_path = pg_catalog, pg_temp;

-- public is on every session's search path: an object another role made there could win a call
-- the pipeline makes (a reader's public.date_trunc(text, date) beats the built-in on a date).
-- PostgreSQL 15 made new clusters so; one upgraded from an older version still lets anyone in.
-- A statement of its own, so that it holds even when a check below stops the script.
revoke create on schema public from public;

do $bootstrap$
declare
    -- warehouse.SCHEMAS
    pipeline_schemas constant text[] := array['raw', 'quarantine', 'staging', 'core', 'marts', 'nurture',
                                              'meta', 'quality_work'];
    group_role text;
    item record;
begin
    if not exists (select from pg_roles where rolname = 'smarketing_owner') then
        create role smarketing_owner login;
    end if;
    alter role smarketing_owner nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
    foreach group_role in array array['smarketing_loader', 'smarketing_bi', 'smarketing_marketing'] loop
        if not exists (select from pg_roles where rolname = group_role) then
            execute format('create role %I nologin', group_role);
        end if;
    end loop;
    execute format('alter database %I owner to smarketing_owner', current_database());

    if exists (select from pg_namespace where nspname = 'public') then
        select into item r.rolname as owner from pg_roles r
        where not r.rolsuper and r.rolname <> current_user and r.rolname not like 'pg\_%'
          and not pg_has_role(r.oid, 'smarketing_owner', 'MEMBER')
          and has_schema_privilege(r.oid, 'public', 'CREATE')
        limit 1;
        if found then
            raise exception 'role % may create objects in schema public, on the pipeline''s search path', item.owner
                using hint = 'Revoke CREATE on schema public from it (or from the role it has it through) and'
                             ' run this script again.';
        end if;
    end if;

    select into item kind, name, owner from (
        select 'schema' as kind, n.nspname::text as name, n.nspowner as owner_oid
        from pg_namespace n where n.nspname = any(pipeline_schemas)
        union all
        select 'relation', c.oid::regclass::text, c.relowner
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(pipeline_schemas)
        union all
        select 'routine', p.oid::regprocedure::text, p.proowner
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(pipeline_schemas)
        union all
        select 'type', t.oid::regtype::text, t.typowner
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = any(pipeline_schemas)
        union all
        select 'operator', o.oid::regoperator::text, o.oprowner
        from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
        where n.nspname = any(pipeline_schemas || array['public'])
        union all
        select 'routine', p.oid::regprocedure::text, p.proowner
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public'
        union all
        select 'operator class', c.opcname::text, c.opcowner from pg_opclass c
        join pg_namespace n on n.oid = c.opcnamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'operator family', f.opfname::text, f.opfowner from pg_opfamily f
        join pg_namespace n on n.oid = f.opfnamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'collation', c.collname::text, c.collowner from pg_collation c
        join pg_namespace n on n.oid = c.collnamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'conversion', c.conname::text, c.conowner from pg_conversion c
        join pg_namespace n on n.oid = c.connamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'text search configuration', c.cfgname::text, c.cfgowner from pg_ts_config c
        join pg_namespace n on n.oid = c.cfgnamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'text search dictionary', d.dictname::text, d.dictowner from pg_ts_dict d
        join pg_namespace n on n.oid = d.dictnamespace where n.nspname = any(pipeline_schemas)
        union all
        select 'statistics object', x.stxname::text, x.stxowner from pg_statistic_ext x
        join pg_namespace n on n.oid = x.stxnamespace where n.nspname = any(pipeline_schemas)
    ) as owned (kind, name, owner_oid)
    cross join lateral (select r.rolname as owner from pg_roles r where r.oid = owned.owner_oid
                        and r.rolname <> current_user and not r.rolsuper
                        and not pg_has_role(r.oid, 'smarketing_owner', 'MEMBER')) as untrusted
    limit 1;
    if found then
        raise exception '% % is owned by role %, which the pipeline does not trust', item.kind, item.name, item.owner
            using hint = 'Look at what it does, drop it (as its owner or a superuser) and run this script again;'
                         ' handing it to smarketing_owner would have the pipeline trust it.';
    end if;

    for item in select n.nspname from pg_namespace n
                where n.nspname = any(pipeline_schemas) and n.nspowner <> 'smarketing_owner'::regrole loop
        execute format('alter schema %I owner to smarketing_owner', item.nspname);
    end loop;
    -- tables first: a serial or identity sequence and the indexes follow their table
    for item in select c.oid::regclass as name, c.relkind from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                where n.nspname = any(pipeline_schemas) and c.relowner <> 'smarketing_owner'::regrole
                  and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
                  and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass
                                  and d.objid = c.oid and d.deptype in ('a', 'i') and c.relkind = 'S')
                order by c.relkind = 'S' loop
        execute format('alter %s %s owner to smarketing_owner',
                       case item.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                         when 'f' then 'foreign table' when 'S' then 'sequence' else 'table' end,
                       item.name);
    end loop;
    for item in select p.oid::regprocedure as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                where n.nspname = any(pipeline_schemas) and p.proowner <> 'smarketing_owner'::regrole loop
        execute format('alter routine %s owner to smarketing_owner', item.name);
    end loop;
    -- standalone types only: a table's row type and every array type follow their owner
    for item in select t.oid::regtype as name from pg_type t join pg_namespace n on n.oid = t.typnamespace
                where n.nspname = any(pipeline_schemas) and t.typowner <> 'smarketing_owner'::regrole
                  and t.typtype in ('d', 'e', 'r', 'c') and t.typelem = 0
                  and (t.typrelid = 0 or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c') loop
        execute format('alter type %s owner to smarketing_owner', item.name);
    end loop;
end
$bootstrap$;
