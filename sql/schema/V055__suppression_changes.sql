-- Suppression refreshed for the mailboxes whose evidence changed (smarketing/nurture/lists.py),
-- instead of rebuilt whole at every run. Every table suppression reads notes what a statement
-- changed in meta.suppression_changes: the mailbox keys and persons it touched, old and new.
-- The notes are taken only while meta.suppression_state holds the digest of the last refresh:
-- before the first one, or after anything was truncated, the next refresh is whole and none are
-- taken. (A full refresh of core notes nearly every mailbox: the next refresh is whole too.)
-- Quarantined records and the rows of batches validation has not passed are read whole at each
-- refresh (they are few); meta.suppression_transient keeps the mailboxes they named last time.

create table meta.suppression_state (
    only_row boolean primary key default true check (only_row),
    digest text not null,              -- the settings, statements and schema it was built with
    refreshed_at timestamptz not null default now()
);

create table meta.suppression_changes (
    mailbox_key text,
    person_id bigint
);

create table meta.suppression_transient (
    mailbox_key text primary key
);

-- a person's own address's mailbox, looked up when their mailboxes are refreshed (a migration that
-- changes core.mailbox_key reindexes it)
create index person_mailbox_key_idx on core.person (core.mailbox_key(email));

create function nurture.forget_suppression_state() returns trigger
language plpgsql as $$
begin
    delete from meta.suppression_state;
    return null;
end;
$$;

create function nurture.note_email_events() returns trigger
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (mailbox_key)
        select distinct coalesce(email_key, core.mailbox_key(email)) from new_rows
        where coalesce(email_key, core.mailbox_key(email)) is not null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (mailbox_key)
        select distinct coalesce(email_key, core.mailbox_key(email)) from old_rows
        where coalesce(email_key, core.mailbox_key(email)) is not null;
    end if;
    return null;
end;
$$;

create function nurture.note_mailbox_keys() returns trigger  -- a table with a mailbox_key column
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (mailbox_key)
        select distinct mailbox_key from new_rows where mailbox_key is not null;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (mailbox_key)
        select distinct mailbox_key from old_rows where mailbox_key is not null;
    end if;
    return null;
end;
$$;

create function nurture.note_persons() returns trigger  -- a table with a person_id column
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (person_id) select distinct person_id from new_rows;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (person_id) select distinct person_id from old_rows;
    end if;
    return null;
end;
$$;

create function nurture.note_person_addresses() returns trigger  -- core.person: the person and its address
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select core.mailbox_key(email), person_id from new_rows;
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select core.mailbox_key(email), person_id from old_rows;
    end if;
    return null;
end;
$$;

create function nurture.note_person_records() returns trigger  -- core.person_identity: the person and the record's mailbox
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select r.email_key, n.person_id from new_rows as n left join core.identity_record as r
            on (r.source, r.entity, r.record_id) = (n.source, n.entity, n.source_record_id);
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select r.email_key, o.person_id from old_rows as o left join core.identity_record as r
            on (r.source, r.entity, r.record_id) = (o.source, o.entity, o.source_record_id);
    end if;
    return null;
end;
$$;

create function nurture.note_record_mailboxes() returns trigger  -- core.identity_record: the key and its persons
language plpgsql as $$
begin
    if not exists (select 1 from meta.suppression_state) then
        return null;
    end if;
    if tg_op in ('INSERT', 'UPDATE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select n.email_key, i.person_id from new_rows as n left join core.person_identity as i
            on (i.source, i.entity, i.source_record_id) = (n.source, n.entity, n.record_id);
    end if;
    if tg_op in ('UPDATE', 'DELETE') then
        insert into meta.suppression_changes (mailbox_key, person_id)
        select o.email_key, i.person_id from old_rows as o left join core.person_identity as i
            on (i.source, i.entity, i.source_record_id) = (o.source, o.entity, o.record_id);
    end if;
    return null;
end;
$$;

do $$
declare
    watched constant text[][] := array[
        ['core', 'email_event', 'nurture.note_email_events'],
        ['core', 'mailbox_consent', 'nurture.note_mailbox_keys'],
        ['nurture', 'manual_suppression', 'nurture.note_mailbox_keys'],
        ['core', 'consent', 'nurture.note_persons'],
        ['core', 'person', 'nurture.note_person_addresses'],
        ['core', 'person_identity', 'nurture.note_person_records'],
        ['core', 'identity_record', 'nurture.note_record_mailboxes']];
    t int;
begin
    for t in 1 .. array_length(watched, 1) loop
        execute format('create trigger note_inserted after insert on %I.%I referencing new table as new_rows'
                       ' for each statement execute function %s()', watched[t][1], watched[t][2], watched[t][3]);
        execute format('create trigger note_updated after update on %I.%I referencing old table as old_rows'
                       ' new table as new_rows for each statement execute function %s()',
                       watched[t][1], watched[t][2], watched[t][3]);
        execute format('create trigger note_deleted after delete on %I.%I referencing old table as old_rows'
                       ' for each statement execute function %s()', watched[t][1], watched[t][2], watched[t][3]);
        execute format('create trigger note_truncated after truncate on %I.%I'
                       ' for each statement execute function nurture.forget_suppression_state()',
                       watched[t][1], watched[t][2]);
    end loop;
end;
$$;
