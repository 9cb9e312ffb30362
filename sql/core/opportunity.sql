-- Grain: one row per opportunity, linked to the person of its primary contact.
insert into core.opportunity (
    source, source_record_id, person_id, account_source_id, name, stage_name, amount, currency,
    lead_source, created_at, close_date, is_closed, is_won
)
select
    'salesforce' as source,
    o.opportunity_id,
    i.person_id,
    o.account_id,
    o.opportunity_name,
    o.stage_name,
    o.amount,
    o.currency,
    o.lead_source,
    o.created_at,
    o.close_date,
    o.is_closed,
    o.is_won
from staging.stg_salesforce__opportunities as o
left join core.person_identity as i
    on i.source = 'salesforce' and i.entity = 'contacts' and o.contact_id = i.source_record_id
where not o.is_deleted
on conflict (source, source_record_id) do update
set person_id = excluded.person_id,
    account_source_id = excluded.account_source_id,
    name = excluded.name,
    stage_name = excluded.stage_name,
    amount = excluded.amount,
    currency = excluded.currency,
    lead_source = excluded.lead_source,
    close_date = excluded.close_date,
    is_closed = excluded.is_closed,
    is_won = excluded.is_won,
    updated_at = now()
where (core.opportunity.person_id, core.opportunity.stage_name, core.opportunity.amount, core.opportunity.close_date,
    core.opportunity.is_closed, core.opportunity.is_won, core.opportunity.name, core.opportunity.currency)
    is distinct from (excluded.person_id, excluded.stage_name, excluded.amount, excluded.close_date,
        excluded.is_closed, excluded.is_won, excluded.name, excluded.currency)
