-- Grain: one row per line item of an opportunity (a product sold on a HubSpot deal): what was sold,
-- how many, at what price, in the line's own currency (the deal's when it names none).
create table core.opportunity_line_item (
    source text not null,
    source_record_id text not null,
    opportunity_id bigint not null references core.opportunity (opportunity_id),
    product_id text,
    sku text,
    product_name text,
    quantity numeric,
    unit_price numeric(18, 2),
    amount numeric(18, 2),
    currency text,
    updated_at timestamptz not null default now(),
    primary key (source, source_record_id)
);
create index on core.opportunity_line_item (opportunity_id);
