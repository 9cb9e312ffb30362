-- Raw landing: one table per source entity, payload kept whole as jsonb so new source
-- fields never break a load. Grain: one row per record version (record_id, version_at);
-- re-landing the same version is a no-op.
create table raw.hubspot__contacts (
    record_id text not null,
    version_at timestamptz not null,
    is_deleted boolean not null default false,
    payload jsonb not null,
    batch_id uuid not null,
    extracted_at timestamptz not null,
    primary key (record_id, version_at)
);
create table raw.hubspot__email_events (like raw.hubspot__contacts including all);
create table raw.salesforce__accounts (like raw.hubspot__contacts including all);
create table raw.salesforce__leads (like raw.hubspot__contacts including all);
create table raw.salesforce__contacts (like raw.hubspot__contacts including all);
create table raw.salesforce__opportunities (like raw.hubspot__contacts including all);

create index on raw.hubspot__contacts (batch_id);
create index on raw.hubspot__email_events (batch_id);
create index on raw.salesforce__accounts (batch_id);
create index on raw.salesforce__leads (batch_id);
create index on raw.salesforce__contacts (batch_id);
create index on raw.salesforce__opportunities (batch_id);

-- Rows that failed a critical expectation, with the reason; they never reach core.
-- Grain: one row per record version per failed expectation.
create table quarantine.records (
    source text not null,
    entity text not null,
    record_id text not null,
    version_at timestamptz not null,
    suite text not null,
    expectation text not null,
    column_name text not null default '',
    reason text not null,
    payload jsonb not null,
    run_id text not null,
    quarantined_at timestamptz not null default now(),
    primary key (source, entity, record_id, version_at, expectation, column_name)
);
