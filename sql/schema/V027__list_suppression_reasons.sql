-- Why a list is short: per run, the eligible people kept off it per suppression reason (a person
-- with several reasons counts under each), so an empty list says whether nobody had an address.
alter table nurture.list_runs add column suppressed_reasons jsonb not null default '{}';
