-- Grain: one row per HubSpot line item (a product sold on a deal), its latest validated version,
-- with the deal it belongs to (its first associated deal).
create or replace view staging.stg_hubspot__line_items as
select
    record_id as line_item_id,
    version_at,
    is_deleted or coalesce(meta.try_boolean(payload ->> 'archived'), false) as is_deleted,
    (select a.value ->> 'id'
     from jsonb_array_elements(case when jsonb_typeof(payload -> 'associations' -> 'deals') = 'array'
                                    then payload -> 'associations' -> 'deals' else '[]' end) as a (value)
     order by length(a.value ->> 'id'), a.value ->> 'id' limit 1) as deal_id,
    nullif(payload -> 'properties' ->> 'hs_product_id', '') as product_id,
    nullif(payload -> 'properties' ->> 'hs_sku', '') as sku,
    nullif(btrim(payload -> 'properties' ->> 'name'), '') as product_name,
    meta.try_numeric(payload -> 'properties' ->> 'quantity') as quantity,
    meta.try_numeric(payload -> 'properties' ->> 'price') as unit_price,
    meta.try_numeric(payload -> 'properties' ->> 'amount') as amount,
    upper(nullif(payload -> 'properties' ->> 'hs_line_item_currency_code', '')) as currency,
    record_id,
    batch_id
from staging.latest_hubspot__line_items as latest
