-- Marts (read by BI) and nurture lists (read by marketing).

-- Grain: one row per UTC calendar month.
create table marts.funnel (
    month date primary key,
    leads integer not null,
    mqls integer not null,
    sqls integer not null,
    opportunities integer not null,
    won integer not null,
    won_amount numeric(18, 2) not null
);

-- Grain: one row per person suppressed from email, per reason (as of the latest list build).
create table nurture.suppressed (
    person_id bigint not null,
    email text,
    reason text not null,
    evidence_at timestamptz,
    primary key (person_id, reason)
);

-- Grain: one row per list build (program and as-of date); changed_at moves only when the
-- list's counts or file did, so a rerun that changes nothing leaves the row as it was.
create table nurture.list_runs (
    program text not null,
    as_of date not null,
    run_id text not null,
    members integer not null,
    eligible integer not null,
    suppressed integer not null,
    export_path text,
    changed_at timestamptz not null default now(),
    primary key (program, as_of)
);

-- Grain: one row per person on a program's list for one as-of date.
create table nurture.list_members (
    program text not null,
    as_of date not null,
    person_id bigint not null,
    email text not null,
    first_name text,
    last_name text,
    attributes jsonb not null default '{}'::jsonb,
    primary key (program, as_of, person_id)
);
