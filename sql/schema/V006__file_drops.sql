-- File drops: which files were loaded (by checksum), and the raw tables of the two standard
-- exports every CRM can produce, so staging can read them even before the first file arrives.

-- Grain: one row per distinct file content per drop.
create table meta.file_loads (
    drop_name text not null,
    checksum text not null,
    file_name text not null,
    run_id text not null,
    status text not null check (status in ('loaded', 'rejected')),
    rows_loaded integer not null,
    rows_quarantined integer not null,
    reason text,
    loaded_at timestamptz not null default now(),
    primary key (drop_name, checksum)
);

create table raw.file__leads (like raw.hubspot__contacts including all);
create table raw.file__deals (like raw.hubspot__contacts including all);

alter table core.opportunity add column segment text;
