-- grain: one row per line item of an opportunity (HubSpot line items)
-- key: source, source_record_id
-- write: scoped
-- scope: opportunity_id in (select o.opportunity_id from core.opportunity as o where (o.source,
--     o.source_record_id) in (select source, source_record_id from merge_opportunities))
-- Rebuilt for the opportunities in scope (merge_opportunities): a line item removed or moved to
-- another deal leaves its old deal. The amount stays in the line's currency (the deal's when it
-- names none); core.opportunity.amount is the deal's total in the reporting currency.
select
    'hubspot' as source,
    l.line_item_id as source_record_id,
    o.opportunity_id,
    l.product_id,
    l.sku,
    l.product_name,
    l.quantity,
    l.unit_price,
    coalesce(l.amount, l.quantity * l.unit_price) as amount,
    coalesce(l.currency, o.deal_currency) as currency
from staging.stg_hubspot__line_items as l
inner join core.opportunity as o on o.source = 'hubspot' and l.deal_id = o.source_record_id
where not l.is_deleted
    and (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
