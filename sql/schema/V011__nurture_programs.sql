-- Nurture programs: versioned list membership, run diffs, manual suppression, platform sync.

alter table core.opportunity add column product_line text;
alter table core.email_event add column subscription_status text;

-- Grain: one row per email address someone suppressed by hand. No load writes here, so nothing
-- a source sends can undo it.
create table nurture.manual_suppression (
    email text primary key check (email = lower(btrim(email))),
    reason text not null,
    added_by text not null default current_user,
    added_at timestamptz not null default now()
);

-- Grain: one row per person per stay on a program's list: added on a run's as-of date, removed
-- (removed_on) on the first later run that no longer selects them.
create table nurture.list_membership (
    program text not null,
    person_id bigint not null,
    email text not null,
    added_on date not null,
    added_run text not null,
    removed_on date,
    removed_run text,
    primary key (program, person_id, added_on)
);
create index on nurture.list_membership (program) where removed_on is null;

alter table nurture.list_runs
    add column added integer not null default 0,
    add column removed integer not null default 0,
    add column unchanged integer not null default 0;

-- Grain: one row per program, platform and person: whether the person is on the platform's list
-- (list_id: if the list is deleted and created anew, everyone is sent again).
create table nurture.platform_sync (
    program text not null,
    platform text not null,
    list_id text not null,
    person_id bigint not null,
    record_id text not null,
    in_list boolean not null,
    synced_at timestamptz not null default now(),
    primary key (program, platform, person_id)
);

grant select on all tables in schema nurture to smarketing_marketing;
