-- grain: one row per opportunity, linked to the person of its primary contact (Salesforce, HubSpot)
--     or lead (file drops)
-- key: source, source_record_id
-- write: upsert
-- Only the opportunities in scope (merge_opportunities.sql). The amount is in the reporting
-- currency at the rate of the close day (core.exchange_rate; null without one); deal_amount and
-- deal_currency keep the deal's own (no currency: the reporting one).
select
    o.source,
    o.source_record_id,
    i.person_id,
    o.account_source_id,
    ai.account_id,
    o.name,
    o.stage_name,
    o.amount * fx.rate as amount,
    cast(:reporting_currency as text) as currency,
    o.amount as deal_amount,
    coalesce(o.currency, cast(:reporting_currency as text)) as deal_currency,
    o.probability,
    o.owner_id,
    o.product_line,
    o.lead_source,
    o.segment,
    o.custom,
    o.created_at,
    o.close_date,
    o.is_closed,
    o.is_won
from staging.int_opportunities as o
left join core.person_identity as i
    on o.source = i.source and o.person_entity = i.entity and o.person_record_id = i.source_record_id and i.is_active
left join core.account_identity as ai
    on ai.source = o.source and ai.entity = case when o.source = 'hubspot' then 'companies' else 'accounts' end
        and o.account_source_id = ai.source_record_id
left join lateral (
    select r.rate
    from core.exchange_rate as r
    where r.currency = coalesce(o.currency, cast(:reporting_currency as text))
        and coalesce(o.close_date, (o.created_at at time zone current_setting('TimeZone'))::date) >= r.valid_from
        and coalesce(o.close_date, (o.created_at at time zone current_setting('TimeZone'))::date) < r.valid_to
    order by r.priority, r.valid_from desc
    limit 1
) as fx on true
where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
    -- unless every opportunity is in scope, the ids go to each arm of the union as an index condition
    and (cast(:whole as boolean) or o.source_record_id = any(array(select source_record_id from merge_opportunities)))
