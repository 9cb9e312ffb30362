-- Grain: one row per mailbox key and reason for which no nurture email may be sent to that
-- mailbox, under any person and in any spelling (core.mailbox_key). The one place suppression
-- is decided; sql/nurture/suppressed.sql extends it to every person holding such a mailbox and
-- sql/nurture/list_members.sql enforces both. Reasons: unsubscribed (a HubSpot subscription
-- status NOT_SUBSCRIBED, or the mailbox's latest subscription event: a later resubscribe lifts an
-- earlier unsubscribe, one of the same moment does not), hard_bounce (a bounce of :hard_bounce_categories, or a file drop's hard
-- bounce), spam_complaint, email_opt_out (the opt-out flag of any
-- HubSpot, Salesforce or file-drop record, deleted ones included), no_consent (subscribed without
-- a legal basis, when :require_legal_basis; a Mailchimp member pending confirmation), manual
-- (nurture.manual_suppression); a Mailchimp member unsubscribed is unsubscribed, cleaned a
-- hard_bounce, an abuse report a spam_complaint;
-- internal_or_test_domain (a domain of the excluded domains or a subdomain of one),
-- formula_like_address (an address starting with =, +, - or @: a spreadsheet would run it as a
-- formula, and the usual guard, a leading apostrophe, makes it another valid address),
-- rejected_file (an address in a file drop's file rejected before who in it opted out could be
-- read: held until a file of that name loads, smarketing/file_drops.py), unreadable_row (an
-- address in a file row whose fields could not be told apart: held until a new version of the
-- file loads), unknown_value (an address in a file row whose event type or subscription status
-- no word names: held until the file loads with it mapped). A record
-- quarantined for another defect (a bad date, say), or landed in a batch validation has not passed
-- (held back by a suite over its failure share), still counts for what it says of its mailbox.
-- Unless :whole, only the mailboxes of the temporary table suppression_scope are decided (every one
-- whose evidence changed since the last refresh: smarketing/nurture/lists.py); each is decided from
-- all its evidence, as a whole refresh decides it. The scope is read as "= any(array(...))": a
-- value list the planner pushes into core.person_mailbox's union and into each index.
insert into nurture.suppressed_mailbox (mailbox_key, reason, evidence_at, evidence)
with keyed_events as not materialized (  -- read twice, by a scan each: not kept whole
    select email_event.*, coalesce(email_event.email_key, core.mailbox_key(email_event.email)) as mailbox_key
    from core.email_event as email_event
    where cast(:whole as boolean) or email_event.email_key is null
        or email_event.email_key = any(array(select mailbox_key from suppression_scope))
),

events as (  -- the events that can suppress, with only the columns read below: kept for three reads
    select
        keyed_events.mailbox_key, keyed_events.event_type, keyed_events.subscription_status,
        keyed_events.bounce_category, keyed_events.occurred_at, keyed_events.source, keyed_events.source_record_id
    from keyed_events
    where keyed_events.mailbox_key is not null and keyed_events.event_type in ('STATUSCHANGE', 'BOUNCE', 'SPAMREPORT')
),

consents as (
    select * from core.mailbox_consent
    where mailbox_key is not null
        and (cast(:whole as boolean) or mailbox_key = any(array(select mailbox_key from suppression_scope)))
),

latest_status_event as (
    select distinct on (events.mailbox_key)
        events.mailbox_key, events.subscription_status, events.occurred_at, events.source, events.source_record_id
    from events
    where events.event_type = 'STATUSCHANGE' and events.subscription_status is not null
    order by events.mailbox_key, events.occurred_at desc,
        events.subscription_status = 'UNSUBSCRIBED' desc,  -- at one moment the unsubscribe counts
        events.source_record_id desc
),

person_mailboxes as materialized (  -- a view: built once here, read twice below
    select person_id, mailbox_key from core.person_mailbox
    where cast(:whole as boolean) or mailbox_key = any(array(select mailbox_key from suppression_scope))
),

known_mailboxes as (  -- the known mailboxes the address checks below can match: only those are deduplicated
    select distinct known.mailbox_key
    from (
        select keyed_events.mailbox_key from keyed_events  -- every event's mailbox, opens and clicks too
        union all
        select mailbox_key from consents
        union all
        select mailbox_key from person_mailboxes
    ) as known
    where left(known.mailbox_key, 1) in ('=', '+', '-', '@')
        or split_part(known.mailbox_key, '@', 2) like any (
            array(select '%' || domain from unnest(cast(:excluded_domains as text[])) as excluded (domain))
        )
),

quarantined as (  -- a record quarantined or held back for any reason still says what it says about its
                    -- mailbox, about each when its field holds several addresses (transient_evidence.sql)
    select
        records.mailbox_key,
        case
            when records.origin = 'quarantine' and records.source = 'file' and records.payload ? 'hold'
                then coalesce(records.payload ->> 'hold_reason', 'rejected_file')
            when records.source = 'mailchimp' and records.entity = 'abuse_reports' then 'spam_complaint'
            when records.source = 'mailchimp' and lower(btrim(records.payload ->> 'status')) = 'cleaned' then 'hard_bounce'
            when records.source = 'mailchimp' and lower(btrim(records.payload ->> 'status')) = 'pending' then 'no_consent'
            when records.source = 'mailchimp' then 'unsubscribed'
            when records.entity = 'email_events' and upper(records.payload ->> 'type') = 'SPAMREPORT'
                then 'spam_complaint'
            when records.entity = 'email_events' and upper(records.payload ->> 'type') = 'BOUNCE'
                and records.payload ->> 'category' = any(cast(:hard_bounce_categories as text[])) then 'hard_bounce'
            when records.source = 'file' and records.entity = 'email_events'
                and records.fields ->> 'type' = 'complaint' then 'spam_complaint'
            when records.source = 'file' and records.entity = 'email_events'
                and records.fields ->> 'type' = 'hard_bounce' then 'hard_bounce'
            when records.source = 'file' and records.entity = 'subscriptions'
                and records.fields ->> 'status' = 'opted_out' then 'email_opt_out'
            when records.entity in ('email_events', 'subscription_statuses', 'subscriptions') then 'unsubscribed'
            else 'email_opt_out'
        end as reason,
        records.version_at,
        records.origin || ':' || records.source || ':' || records.entity || ':' || records.record_id as evidence
    from transient_evidence as records
    where (records.origin = 'quarantine' and records.source = 'file' and records.payload ? 'hold')
        or (records.source = 'file' and records.entity in ('leads', 'contacts')
            and core.is_opt_out_value(records.fields ->> 'email_opt_out'))
        or (records.source = 'file' and records.entity = 'email_events'  -- words as the loader maps them
            and records.fields ->> 'type' in ('complaint', 'hard_bounce', 'unsubscribe'))
        or (records.source = 'file' and records.entity = 'subscriptions'
            and records.fields ->> 'status' in ('unsubscribed', 'opted_out'))
        or (records.source = 'hubspot' and records.entity = 'contacts'
            and core.is_opt_out_value(records.payload -> 'properties' ->> 'hs_email_optout'))
        or (records.source = 'salesforce' and records.entity in ('leads', 'contacts')
            and core.is_opt_out_value(records.payload ->> 'HasOptedOutOfEmail'))
        or (records.source = 'hubspot' and records.entity = 'subscription_statuses'
            and records.payload -> 'subscriptionStatuses' @> '[{"status": "NOT_SUBSCRIBED"}]')
        or (records.source = 'mailchimp' and records.entity = 'members'
            and lower(btrim(records.payload ->> 'status')) in ('unsubscribed', 'cleaned', 'pending'))
        or (records.source = 'mailchimp' and records.entity = 'abuse_reports')
        or (records.source = 'hubspot' and records.entity = 'email_events' and (
            upper(records.payload ->> 'type') = 'SPAMREPORT'
            or (upper(records.payload ->> 'type') = 'BOUNCE'
                and records.payload ->> 'category' = any(cast(:hard_bounce_categories as text[])))
            or upper(records.payload ->> 'portalSubscriptionStatus') = 'UNSUBSCRIBED'))
),

person_facts as (  -- what core knows per person (consent of their contacts, opt-out flags), for each of
                     -- their mailboxes (unless :whole, of the persons holding a mailbox in scope). Each
                     -- mailbox's person is joined to the table itself: its primary key leads with the
                     -- person, so a scope however misestimated is looked up, never compared pairwise
                     -- with a list of facts (36 s of 48 s at SCALE=10 that way)
    select person_mailbox.mailbox_key, person_mailbox.person_id, case consent.status when 'SUBSCRIBED' then 'no_consent'
        when 'NOT_SUBSCRIBED' then 'unsubscribed' else 'email_opt_out' end as reason, consent.changed_at
    from person_mailboxes as person_mailbox
    inner join core.consent as consent on person_mailbox.person_id = consent.person_id
    where consent.status in ('NOT_SUBSCRIBED', 'OPTED_OUT')
        or (cast(:require_legal_basis as boolean) and consent.status = 'SUBSCRIBED' and consent.legal_basis is null)
    union all
    select person_mailbox.mailbox_key, person_mailbox.person_id, 'email_opt_out', person.updated_at
    from person_mailboxes as person_mailbox
    inner join core.person as person on person_mailbox.person_id = person.person_id
    where person.has_email_opt_out
),

reasons as (
    select
        latest_status_event.mailbox_key, 'unsubscribed' as reason,
        latest_status_event.occurred_at as evidence_at,
        latest_status_event.source || ':email_events:' || latest_status_event.source_record_id as evidence
    from latest_status_event
    where latest_status_event.subscription_status = 'UNSUBSCRIBED'
    union all
    select
        consents.mailbox_key, 'unsubscribed', consents.changed_at,
        consents.source || ':' || consents.entity || ':' || consents.record_id
    from consents
    where consents.status = 'NOT_SUBSCRIBED'
    union all
    select
        consents.mailbox_key, 'email_opt_out', consents.changed_at,
        consents.source || ':' || consents.entity || ':' || consents.record_id
    from consents
    where consents.status = 'OPTED_OUT'
    union all
    select
        consents.mailbox_key, 'no_consent', consents.changed_at,
        consents.source || ':' || consents.entity || ':' || consents.record_id
    from consents
    where cast(:require_legal_basis as boolean) and consents.status = 'SUBSCRIBED' and consents.legal_basis is null
    union all
    select
        consents.mailbox_key,
        case consents.status when 'CLEANED' then 'hard_bounce' when 'PENDING' then 'no_consent'
            else 'spam_complaint' end,
        consents.changed_at, consents.source || ':' || consents.entity || ':' || consents.record_id
    from consents
    where consents.status in ('CLEANED', 'PENDING', 'COMPLAINED')
    union all
    select events.mailbox_key, 'hard_bounce', events.occurred_at, events.source || ':email_events:' || events.source_record_id
    from events
    where events.event_type = 'BOUNCE'
        and (events.bounce_category = any(cast(:hard_bounce_categories as text[])) or events.bounce_category = 'HARD_BOUNCE')
    union all
    select events.mailbox_key, 'spam_complaint', events.occurred_at, events.source || ':email_events:' || events.source_record_id
    from events
    where events.event_type = 'SPAMREPORT'
    union all
    select person_facts.mailbox_key, person_facts.reason, person_facts.changed_at,
        'core.person:' || person_facts.person_id
    from person_facts
    union all
    select quarantined.mailbox_key, quarantined.reason, quarantined.version_at, quarantined.evidence
    from quarantined
    where quarantined.mailbox_key is not null
    union all
    select manual.mailbox_key, 'manual', manual.added_at, 'nurture.manual_suppression'
    from nurture.manual_suppression as manual
    where manual.mailbox_key is not null
    union all
    select known_mailboxes.mailbox_key, 'formula_like_address', null, 'its first character'
    from known_mailboxes
    where left(known_mailboxes.mailbox_key, 1) in ('=', '+', '-', '@')
    union all
    select known_mailboxes.mailbox_key, 'internal_or_test_domain', null, split_part(known_mailboxes.mailbox_key, '@', 2)
    from known_mailboxes
    cross join unnest(cast(:excluded_domains as text[])) as excluded (domain)
    where split_part(known_mailboxes.mailbox_key, '@', 2) = excluded.domain
        or split_part(known_mailboxes.mailbox_key, '@', 2) like '%.' || excluded.domain
),

final as (
    select
        reasons.mailbox_key,
        reasons.reason,
        max(reasons.evidence_at) as evidence_at,
        min(reasons.evidence) as evidence
    from reasons
    -- a hashed lookup: "= any(array(...))" here is pushed into every arm, a search through the
    -- whole list for each row of the stored ones (quadratic: seconds at SCALE=10)
    where cast(:whole as boolean) or reasons.mailbox_key in (select mailbox_key from suppression_scope)
    group by reasons.mailbox_key, reasons.reason
)

select * from final
