-- Grain: one row per person and reason for which no nurture email may be sent.
-- The one place suppression is decided; every program's list is built against it.
insert into nurture.suppressed (person_id, email, reason, evidence_at)
with persons as (
    select * from core.person where merged_into_person_id is null and not is_deleted
),

email_events as (
    select * from staging.stg_hubspot__email_events
),

event_reasons as (
    select
        p.person_id,
        case
            when e.event_type = 'STATUSCHANGE' then 'unsubscribed'
            when e.event_type = 'BOUNCE' then 'hard_bounce'
            when e.event_type = 'SPAMREPORT' then 'spam_complaint'
        end as reason,
        max(e.occurred_at) as evidence_at
    from email_events as e
    inner join persons as p on e.email = p.email
    where (e.event_type = 'STATUSCHANGE' and e.portal_subscription_status = 'UNSUBSCRIBED')
        or (e.event_type = 'BOUNCE' and e.bounce_category in ('UNKNOWN_USER', 'MAILBOX_MISCONFIGURATION'))
        or e.event_type = 'SPAMREPORT'
    group by 1, 2
),

profile_reasons as (
    select person_id, 'email_opt_out' as reason, updated_at as evidence_at
    from persons where has_email_opt_out
    union all
    select person_id, 'no_email', updated_at
    from persons where email is null
),

final as (
    select r.person_id, p.email, r.reason, r.evidence_at
    from (select * from event_reasons union all select * from profile_reasons) as r
    inner join persons as p on r.person_id = p.person_id
)

select * from final
