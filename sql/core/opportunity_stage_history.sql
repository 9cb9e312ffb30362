-- grain: one row per opportunity per change of its stage, amount, probability or close date, in
--     business time (SCD2)
-- key: opportunity_id, entered_at
-- write: scoped
-- scope: opportunity_id in (select o.opportunity_id from core.opportunity as o where (o.source,
--     o.source_record_id) in (select source, source_record_id from merge_opportunities))
-- From Salesforce OpportunityHistory, HubSpot's dealstage, amount and closedate histories (the
-- shared stage its pipeline stage counts as) and file-drop deal stages; each change closes the
-- previous one. Rebuilt for the
-- opportunities in scope (merge_opportunities). Amounts in the reporting currency at the rate of the
-- day the stage was entered.
with history as (
    select o.opportunity_id, h.stage_name, h.amount, h.probability, h.close_date, h.created_at as entered_at
    from staging.stg_salesforce__opportunity_history as h
    inner join core.opportunity as o on o.source = 'salesforce' and h.opportunity_id = o.source_record_id
    where h.created_at is not null
        and h.opportunity_id in (select source_record_id from merge_opportunities where source = 'salesforce')
    union all
    select o.opportunity_id, coalesce(s.stage, h.stage_id), h.amount, s.probability, h.close_date, h.entered_at
    from staging.stg_hubspot__deal_stage_history as h
    inner join core.opportunity as o on o.source = 'hubspot' and h.deal_id = o.source_record_id
    left join staging.stg_hubspot__deal_stages as s on h.pipeline_id = s.pipeline_id and h.stage_id = s.stage_id
    where h.deal_id in (select source_record_id from merge_opportunities where source = 'hubspot')
    union all
    select o.opportunity_id, h.stage, h.amount, h.probability, h.close_date, h.changed_at
    from staging.stg_file__deal_stages as h
    inner join core.opportunity as o on o.source = 'file' and h.deal_id = o.source_record_id
    where not h.is_deleted
        and h.deal_id in (select source_record_id from merge_opportunities where source = 'file')
),

deduplicated as (
    select distinct on (opportunity_id, entered_at) *
    from history
    order by opportunity_id, entered_at, stage_name
),

final as (
    select
        *,
        lead(entered_at) over (partition by opportunity_id order by entered_at) as exited_at
    from deduplicated
)

select
    f.opportunity_id, f.stage_name, f.amount * fx.rate as amount, f.probability, f.close_date, f.entered_at,
    f.exited_at,
    f.exited_at is null as is_current
from final as f
inner join core.opportunity as o on f.opportunity_id = o.opportunity_id
left join lateral (
    select r.rate
    from core.exchange_rate as r
    where r.currency = o.deal_currency
        and (f.entered_at at time zone current_setting('TimeZone'))::date >= r.valid_from
        and (f.entered_at at time zone current_setting('TimeZone'))::date < r.valid_to
    order by r.priority, r.valid_from desc
    limit 1
) as fx on true
