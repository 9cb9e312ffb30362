-- Grain: one row per member of the Mailchimp audience (its subscriber hash), its latest status.
-- Read for consent only (sql/core/mailbox_consent.sql): a member is not a person record.
create or replace view staging.stg_mailchimp__members as
select
    l.record_id as member_id,
    lower(btrim(l.payload ->> 'email_address')) as email,
    lower(btrim(l.payload ->> 'status')) as status,
    nullif(l.payload ->> 'unsubscribe_reason', '') as unsubscribe_reason,
    l.payload ->> 'list_id' as audience_id,
    l.version_at as changed_at,
    l.is_deleted,
    l.record_id,
    l.version_at,
    l.batch_id
from staging.latest_mailchimp__members as l
