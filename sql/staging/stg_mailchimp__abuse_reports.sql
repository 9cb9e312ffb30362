-- Grain: one row per abuse report (a spam complaint) about a campaign of the Mailchimp audience.
create or replace view staging.stg_mailchimp__abuse_reports as
select
    l.record_id as report_id,
    lower(btrim(l.payload ->> 'email_address')) as email,
    l.payload ->> 'campaign_id' as campaign_id,
    l.version_at as reported_at,
    l.is_deleted,
    l.record_id,
    l.version_at,
    l.batch_id
from staging.latest_mailchimp__abuse_reports as l
