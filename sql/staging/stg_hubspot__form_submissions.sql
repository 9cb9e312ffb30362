-- Grain: one row per HubSpot form submission.
create or replace view staging.stg_hubspot__form_submissions as
select
    record_id as submission_id,
    payload ->> 'formId' as form_id,
    (
        select lower(btrim(v ->> 'value')) from jsonb_array_elements(payload -> 'values') as v
        where v ->> 'name' = 'email' limit 1
    ) as email,
    payload ->> 'pageUrl' as page_url,
    meta.try_epoch_ms(payload ->> 'submittedAt') as submitted_at
from staging.latest_hubspot__form_submissions as latest
