-- Core model: one golden record per human and per deal, with stable surrogate ids.

-- Grain: one row per person. match_key is what identity resolution matched on
-- ('email:<normalised email>' or 'record:<source>:<entity>:<id>' for records without email).
create table core.person (
    person_id bigint generated always as identity primary key,
    match_key text not null unique,
    email text,
    first_name text,
    last_name text,
    company_name text,
    source_channel text,
    lead_created_at timestamptz,
    mql_at timestamptz,
    sql_at timestamptz,
    customer_at timestamptz,
    has_email_opt_out boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Grain: one row per source record that describes a person.
create table core.person_identity (
    source text not null,
    entity text not null,
    source_record_id text not null,
    person_id bigint not null references core.person (person_id),
    match_rule text not null,
    match_score numeric not null default 1.0,
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    primary key (source, entity, source_record_id)
);
create index on core.person_identity (person_id);

-- Grain: one row per opportunity.
create table core.opportunity (
    opportunity_id bigint generated always as identity primary key,
    source text not null,
    source_record_id text not null,
    person_id bigint references core.person (person_id),
    account_source_id text,
    name text,
    stage_name text not null,
    amount numeric(18, 2),
    currency text,
    lead_source text,
    created_at timestamptz not null,
    close_date date,
    is_closed boolean not null,
    is_won boolean not null,
    updated_at timestamptz not null default now(),
    unique (source, source_record_id)
);
create index on core.opportunity (person_id);
