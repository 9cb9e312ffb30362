-- The normalised keys of every live person record, kept between runs: a merge recomputes only the
-- records it promoted (sql/core/identity_records.sql) instead of all of them.
create table core.identity_record (
    record_key text primary key,          -- '<source>:<entity>:<id>'
    source text not null,
    entity text not null,
    record_id text not null,
    email_key text,
    full_name text,
    last_name_key text,
    first_name_key text,
    company_key text,
    linked_record text,
    merged_records text[],
    account_source_id text,               -- a Salesforce contact's account, whose name is its company
    is_generic_mailbox boolean,
    work_domain text,
    fingerprint text not null,
    unique (source, entity, record_id)
);
create index on core.identity_record (email_key);
create index on core.identity_record (account_source_id) where account_source_id is not null;
