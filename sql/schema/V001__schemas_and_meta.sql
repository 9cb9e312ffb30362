-- Schemas, one per stage, and the pipeline's own bookkeeping in meta.
create schema if not exists raw;
create schema if not exists quarantine;
create schema if not exists staging;
create schema if not exists core;
create schema if not exists marts;
create schema if not exists nurture;
create schema if not exists meta;

-- One row per source entity: the incremental cursor, advanced in the same transaction
-- that commits the rows it covers.
create table meta.sync_state (
    source text not null,
    entity text not null,
    cursor_at timestamptz,
    rows_total bigint not null default 0,
    updated_at timestamptz not null default now(),
    primary key (source, entity)
);

-- One row per landed page: what arrived, when, and whether validation has seen it.
create table meta.batches (
    batch_id uuid primary key,
    run_id text not null,
    source text not null,
    entity text not null,
    rows_received integer not null,
    rows_new integer not null,
    landed_at timestamptz not null default now(),
    validated_at timestamptz,
    validation_run_id text
);
create index batches_unvalidated on meta.batches (source, entity) where validated_at is null;

-- One row per stage run, for operations and the demo summary.
create table meta.runs (
    run_id text not null,
    stage text not null,
    as_of date,
    started_at timestamptz not null,
    finished_at timestamptz not null default now(),
    stats jsonb not null default '{}'::jsonb,
    primary key (run_id, stage)
);

-- One row per expectation evaluated, for trending data quality in BI.
create table meta.dq_results (
    run_id text not null,
    suite text not null,
    expectation text not null,
    column_name text,
    severity text not null,
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    unexpected_percent numeric,
    evaluated_at timestamptz not null default now(),
    primary key (run_id, suite, expectation, column_name)
);
