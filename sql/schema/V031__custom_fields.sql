-- Custom fields of the CRMs' deals, typed (config/sources.yaml custom_fields): the staging views
-- read which fields to take and how to type them from here, written by each merge.
create table meta.custom_fields (
    source text not null,
    entity text not null,
    field text not null,  -- the source's field (Salesforce API name, HubSpot property)
    name text not null,   -- its key in core
    type text not null check (type in ('text', 'number', 'date', 'timestamp', 'flag')),
    primary key (source, entity, field)
);

-- An opportunity's custom fields by name, typed (numbers as numbers, flags as booleans, dates as
-- ISO text), for marts and nurture programs: custom ->> 'contract_months'.
alter table core.opportunity add column custom jsonb not null default '{}';

-- A source's text value typed as a custom field's type says, as jsonb (null when it does not read).
create function meta.typed_value(value text, kind text) returns jsonb
language sql stable as $$
    select case kind
        when 'number' then to_jsonb(meta.try_numeric(value))
        when 'date' then to_jsonb(meta.try_date(value))
        when 'timestamp' then to_jsonb(meta.try_timestamptz(value))
        when 'flag' then to_jsonb(meta.try_boolean(value))
        else to_jsonb(nullif(btrim(value), ''))
    end
$$;
