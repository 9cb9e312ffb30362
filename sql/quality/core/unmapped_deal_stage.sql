-- why: a HubSpot deal in an open pipeline stage that systems.hubspot.deal_stages in
--     config/sources.yaml does not map keeps the stage's own label, which no stage probability,
--     funnel step or forecast knows (the merge log names the stages)
-- Checked: open HubSpot deals. Unexpected: their stage is not mapped.
select
    count(*) as checked,
    count(*) filter (where not coalesce(s.is_mapped, false)) as unexpected
from staging.stg_hubspot__deals as d
left join staging.stg_hubspot__deal_stages as s on d.pipeline_id = s.pipeline_id and d.stage_id = s.stage_id
where not d.is_deleted and not coalesce(d.is_closed, false)
