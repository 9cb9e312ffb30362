-- The pipeline now runs as smarketing_owner (sql/admin/bootstrap.sql), and default privileges
-- belong to the role that creates the objects: those set by V010 covered only tables created by
-- whoever ran it then (a superuser in older warehouses). Set them for the owner, so a mart or
-- list table the pipeline creates or swaps in keeps its readers.
alter default privileges in schema marts grant select on tables to smarketing_bi, smarketing_marketing;
alter default privileges in schema nurture grant select on tables to smarketing_marketing;
alter default privileges in schema raw, quarantine, staging, core, marts, nurture, meta
    grant select, insert, update, delete, truncate on tables to smarketing_loader;
