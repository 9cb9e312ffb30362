-- CRM deal settings the staging views read, written by each merge from config/sources.yaml:
-- a HubSpot portal's deal stages mapped onto the shared pipeline stages, and the system whose
-- deals count when more than one CRM holds them (no row: every system's deals count).
create table meta.deal_stage_map (
    source text not null,
    stage_key text not null,  -- a stage id or label of the source
    stage text not null,      -- a stage of config/quality.yaml pipeline_stages
    primary key (source, stage_key)
);

create table meta.deal_sources (
    source text primary key
);

-- What each extract read of an entity's fields (Salesforce's describe), so a field that appears or
-- vanishes is reported once, on the run that sees it change.
alter table meta.sync_state add column fields text[];
