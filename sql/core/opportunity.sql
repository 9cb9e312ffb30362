-- grain: one row per opportunity, linked to the person of its primary contact (Salesforce) or lead
--     (file drops)
-- key: source, source_record_id
-- write: upsert
-- Only the opportunities in scope (merge_opportunities.sql).
select
    o.source,
    o.source_record_id,
    i.person_id,
    o.account_source_id,
    ai.account_id,
    o.name,
    o.stage_name,
    o.amount,
    o.currency,
    o.probability,
    o.owner_id,
    o.product_line,
    o.lead_source,
    o.segment,
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
where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
