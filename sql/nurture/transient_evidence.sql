-- What quarantined records and the rows of batches validation has not passed say of their mailboxes,
-- read whole at every refresh of suppression (they are few): one row per record and mailbox its
-- address field names (each address, when it holds several: core.mailbox_keys).
-- sql/nurture/suppressed_mailbox.sql decides what each says; smarketing/nurture/lists.py refreshes
-- the mailboxes named here now or at the last refresh.
create temporary table transient_evidence on commit drop as
with held as (  -- rows of batches validation has not passed (pending, or held back by a suite over its
           -- failure share): what they say of a mailbox counts at once, as a quarantined row's does
    select 'hubspot' as source, 'contacts' as entity, r.record_id, r.version_at, r.payload
    from raw.hubspot__contacts as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'hubspot', 'subscription_statuses', r.record_id, r.version_at, r.payload
    from raw.hubspot__subscription_statuses as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'hubspot', 'email_events', r.record_id, r.version_at, r.payload
    from raw.hubspot__email_events as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'salesforce', 'leads', r.record_id, r.version_at, r.payload
    from raw.salesforce__leads as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'salesforce', 'contacts', r.record_id, r.version_at, r.payload
    from raw.salesforce__contacts as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'file', 'leads', r.record_id, r.version_at, r.payload
    from raw.file__leads as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'file', 'contacts', r.record_id, r.version_at, r.payload
    from raw.file__contacts as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'file', 'email_events', r.record_id, r.version_at, r.payload
    from raw.file__email_events as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'file', 'subscriptions', r.record_id, r.version_at, r.payload
    from raw.file__subscriptions as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'mailchimp', 'members', r.record_id, r.version_at, r.payload
    from raw.mailchimp__members as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
    union all
    select 'mailchimp', 'abuse_reports', r.record_id, r.version_at, r.payload
    from raw.mailchimp__abuse_reports as r inner join meta.batches as b on r.batch_id = b.batch_id
    where b.validated_at is null
),

records as (  -- a file drop's fields: its raw payload, or a quarantined row's 'mapped'
    select 'quarantine' as origin, q.source, q.entity, q.record_id, q.version_at, q.payload,
        coalesce(q.payload -> 'mapped', q.payload) as fields
    from quarantine.records as q
    union all
    select 'held', h.source, h.entity, h.record_id, h.version_at, h.payload, h.payload
    from held as h
)

select records.*, mailbox.key as mailbox_key
from records
cross join lateral core.mailbox_keys(coalesce(
    records.fields ->> 'email',
    records.payload -> 'properties' ->> 'email', records.payload ->> 'Email', records.payload ->> 'recipient',
    records.payload ->> 'email_address'
)) as mailbox (key)
