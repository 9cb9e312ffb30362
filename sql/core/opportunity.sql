-- Grain: one row per opportunity, linked to the person of its primary contact (Salesforce)
-- or lead (file drops). Only the opportunities in scope (merge_opportunities, see _scope.sql).
insert into core.opportunity (
    source, source_record_id, person_id, account_source_id, account_id, name, stage_name, amount, currency,
    probability, owner_id, product_line, lead_source, segment, created_at, close_date, is_closed, is_won
)
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
    on ai.source = 'salesforce' and ai.entity = 'accounts' and o.account_source_id = ai.source_record_id
where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
on conflict (source, source_record_id) do update
set person_id = excluded.person_id,
    account_source_id = excluded.account_source_id,
    account_id = excluded.account_id,
    probability = excluded.probability,
    owner_id = excluded.owner_id,
    product_line = excluded.product_line,
    name = excluded.name,
    stage_name = excluded.stage_name,
    amount = excluded.amount,
    currency = excluded.currency,
    lead_source = excluded.lead_source,
    segment = excluded.segment,
    close_date = excluded.close_date,
    is_closed = excluded.is_closed,
    is_won = excluded.is_won,
    updated_at = now()
where (core.opportunity.person_id, core.opportunity.stage_name, core.opportunity.amount, core.opportunity.close_date,
    core.opportunity.is_closed, core.opportunity.is_won, core.opportunity.name, core.opportunity.currency,
    core.opportunity.segment, core.opportunity.account_id, core.opportunity.probability, core.opportunity.owner_id,
    core.opportunity.product_line)
    is distinct from (excluded.person_id, excluded.stage_name, excluded.amount, excluded.close_date,
        excluded.is_closed, excluded.is_won, excluded.name, excluded.currency, excluded.segment, excluded.account_id,
        excluded.probability, excluded.owner_id, excluded.product_line)
