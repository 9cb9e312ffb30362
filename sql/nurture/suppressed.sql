-- Grain: one row per person and reason for which no nurture email may be sent. The one place
-- suppression is decided; every program's list is built against it (sql/nurture/list_members.sql).
-- Reasons: unsubscribed (HubSpot's current status, or the latest subscription event: a later
-- resubscribe lifts an earlier unsubscribe), hard_bounce, spam_complaint, no_consent (subscribed
-- without a legal basis, when :require_legal_basis), email_opt_out (HubSpot or Salesforce flag),
-- internal_or_test_domain, manual (nurture.manual_suppression), merged_or_deleted, no_email.
insert into nurture.suppressed (person_id, email, reason, evidence_at)
with persons as (
    select * from core.person
),

latest_status_event as (
    select distinct on (person_id) person_id, subscription_status, occurred_at
    from core.email_event
    where event_type = 'STATUSCHANGE' and person_id is not null
    order by person_id, occurred_at desc, source_record_id desc
),

reasons as (
    select person_id, 'unsubscribed' as reason, occurred_at as evidence_at
    from latest_status_event where subscription_status = 'UNSUBSCRIBED'
    union all
    select person_id, 'unsubscribed', max(changed_at)
    from core.consent where source = 'hubspot' and status = 'NOT_SUBSCRIBED' group by person_id
    union all
    select person_id, 'hard_bounce', max(occurred_at)
    from core.email_event
    where event_type = 'BOUNCE' and bounce_category = any(cast(:hard_bounce_categories as text[]))
        and person_id is not null
    group by person_id
    union all
    select person_id, 'spam_complaint', max(occurred_at)
    from core.email_event where event_type = 'SPAMREPORT' and person_id is not null group by person_id
    union all
    select person_id, 'no_consent', max(changed_at)
    from core.consent
    where cast(:require_legal_basis as boolean) and source = 'hubspot' and status = 'SUBSCRIBED'
        and legal_basis is null
    group by person_id
    union all
    select person_id, 'email_opt_out', updated_at from persons where has_email_opt_out
    union all
    select person_id, 'internal_or_test_domain', updated_at
    from persons where split_part(email, '@', 2) = any(cast(:excluded_domains as text[]))
    union all
    select p.person_id, 'manual', m.added_at
    from persons as p inner join nurture.manual_suppression as m on lower(btrim(p.email)) = m.email
    union all
    select person_id, 'merged_or_deleted', updated_at
    from persons where merged_into_person_id is not null or is_deleted
    union all
    select person_id, 'no_email', updated_at from persons where email is null
),

final as (
    select r.person_id, p.email, r.reason, max(r.evidence_at) as evidence_at
    from reasons as r
    inner join persons as p on r.person_id = p.person_id
    group by r.person_id, p.email, r.reason
)

select * from final
