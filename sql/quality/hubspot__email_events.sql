-- What the hubspot__email_events suite checks: one row per landed email event.
select
    record_id,
    version_at,
    batch_id,
    upper(payload ->> 'type') as event_type,
    lower(nullif(btrim(payload ->> 'recipient'), '')) as recipient,
    to_timestamp(meta.try_numeric(payload ->> 'created') / 1000.0) as occurred_at
from raw.hubspot__email_events
