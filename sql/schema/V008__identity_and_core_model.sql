-- Identity resolution and the full core model.
create extension if not exists pg_trgm;
create extension if not exists fuzzystrmatch;

-- The email as identity resolution compares it: lowercase and trimmed; optionally without the
-- +tag, and for Gmail without the dots of the local part (googlemail.com is gmail.com).
create function core.normalize_email(email text, strip_plus boolean, gmail_dots boolean) returns text
language plpgsql immutable parallel safe as $$
declare
    local_part text;
    domain_part text;
begin
    if email is null or btrim(email) = '' or position('@' in email) = 0 then
        return nullif(lower(btrim(email)), '');
    end if;
    local_part := split_part(lower(btrim(email)), '@', 1);
    domain_part := split_part(lower(btrim(email)), '@', 2);
    if strip_plus then
        local_part := split_part(local_part, '+', 1);
    end if;
    if gmail_dots and domain_part in ('gmail.com', 'googlemail.com') then
        local_part := replace(local_part, '.', '');
        domain_part := 'gmail.com';
    end if;
    return local_part || '@' || domain_part;
end;
$$;

-- Letters and digits only, lowercase, single spaces: "  Ada  Lovelace-King " -> "ada lovelace king".
create function core.normalize_name(value text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(lower(coalesce(value, '')), '[^[:alnum:]]+', ' ', 'g')), '')
$$;

-- A company name without legal form: "Acme Tools GmbH" and "ACME TOOLS" -> "acme tools".
create function core.normalize_company(value text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(
        core.normalize_name(value),
        '\m(gmbh|ag|inc|incorporated|ltd|limited|llc|plc|sa|sas|sarl|bv|nv|oy|ab|as|aps|kg|co|corp|corporation|company|se)\M',
        '', 'g')), '')
$$;

alter table core.person
    add column merged_into_person_id bigint references core.person (person_id),
    add column is_deleted boolean not null default false,
    add column account_id bigint,
    add column owner_id text,
    add column lifecycle_stage text;

alter table core.person_identity
    add column matched_record text,        -- the record it was matched with (evidence)
    add column fingerprint text,           -- what resolution compared, to find changed records
    add column is_active boolean not null default true;

-- Grain: one row per person id that was merged into another (merge history; ids never vanish).
create table core.person_merge (
    merged_person_id bigint primary key references core.person (person_id),
    surviving_person_id bigint not null references core.person (person_id),
    match_rule text not null,
    match_score numeric not null,
    evidence text,
    merged_at timestamptz not null default now()
);

-- Grain: one row per pair of source records that a rule says are the same human.
-- Record keys are '<source>:<entity>:<id>'.
create table core.identity_edge (
    left_record text not null,
    right_record text not null,
    match_rule text not null,
    match_score numeric not null,
    primary key (left_record, right_record, match_rule)
);
create index on core.identity_edge (right_record);

-- Grain: one row per company across systems (by domain, else normalised name).
create table core.account (
    account_id bigint generated always as identity primary key,
    match_key text not null unique,
    name text,
    domain text,
    industry text,
    created_at timestamptz,
    updated_at timestamptz not null default now()
);

-- Grain: one row per source record that describes a company.
create table core.account_identity (
    source text not null,
    entity text not null,
    source_record_id text not null,
    account_id bigint not null references core.account (account_id),
    match_rule text not null,
    primary key (source, entity, source_record_id)
);

alter table core.opportunity
    add column account_id bigint references core.account (account_id),
    add column probability numeric,
    add column owner_id text;

-- Grain: one row per opportunity per stage visit (SCD2 of stage and amount, in business time).
create table core.opportunity_stage_history (
    opportunity_id bigint not null references core.opportunity (opportunity_id),
    stage_name text not null,
    amount numeric(18, 2),
    probability numeric,
    entered_at timestamptz not null,
    exited_at timestamptz,
    is_current boolean not null,
    primary key (opportunity_id, entered_at)
);

-- Grain: one row per open opportunity per snapshot date (what the pipeline looked like that day).
create table core.opportunity_daily (
    snapshot_date date not null,
    opportunity_id bigint not null references core.opportunity (opportunity_id),
    stage_name text not null,
    amount numeric(18, 2),
    probability numeric,
    close_date date,
    primary key (snapshot_date, opportunity_id)
);

-- Grain: one row per person per lifecycle stage reached, with when.
create table core.lifecycle_event (
    person_id bigint not null references core.person (person_id),
    stage text not null,
    reached_at timestamptz not null,
    primary key (person_id, stage)
);

-- Grain: one row per person per lifecycle stage period (SCD2 in business time).
create table core.person_lifecycle_history (
    person_id bigint not null references core.person (person_id),
    lifecycle_stage text not null,
    valid_from timestamptz not null,
    valid_to timestamptz,
    is_current boolean not null,
    primary key (person_id, valid_from)
);

-- Grain: one row per campaign (Salesforce campaigns, HubSpot email campaigns).
create table core.campaign (
    campaign_id bigint generated always as identity primary key,
    source text not null,
    source_record_id text not null,
    name text,
    campaign_type text,
    channel text,
    started_at timestamptz,
    unique (source, source_record_id)
);

-- Grain: one row per sales activity (Salesforce task or event).
create table core.activity (
    activity_id bigint generated always as identity primary key,
    source text not null,
    source_record_id text not null,
    activity_type text,
    subject text,
    person_id bigint references core.person (person_id),
    opportunity_id bigint references core.opportunity (opportunity_id),
    owner_id text,
    occurred_at timestamptz,
    unique (source, source_record_id)
);

-- Grain: one row per email event (sent, delivered, open, click, bounce, spam report, status change).
create table core.email_event (
    source text not null,
    source_record_id text not null,
    person_id bigint references core.person (person_id),
    campaign_id bigint references core.campaign (campaign_id),
    event_type text not null,
    email text,
    occurred_at timestamptz not null,
    bounce_category text,
    is_filtered boolean not null default false,
    primary key (source, source_record_id)
);

-- Grain: one row per marketing interaction of a person (email open or click, form submission,
-- campaign response), attributed to the person and their account.
create table core.touchpoint (
    source text not null,
    source_record_id text not null,
    touch_type text not null,
    person_id bigint references core.person (person_id),
    account_id bigint references core.account (account_id),
    campaign_id bigint references core.campaign (campaign_id),
    channel text,
    occurred_at timestamptz not null,
    primary key (source, source_record_id, touch_type)
);

-- Grain: one row per person, channel, subscription and source: the latest consent state.
create table core.consent (
    person_id bigint not null references core.person (person_id),
    channel text not null,
    subscription text not null,
    source text not null,
    status text not null,
    legal_basis text,
    changed_at timestamptz,
    primary key (person_id, channel, subscription, source)
);
