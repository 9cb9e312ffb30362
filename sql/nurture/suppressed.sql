-- Grain: one row per person and reason for which no nurture email may be sent to them: every
-- person holding a suppressed mailbox (nurture.suppressed_mailbox, built just before) under any
-- of their addresses (core.person_mailbox), plus merged_or_deleted and no_email.
-- sql/nurture/list_members.sql keeps all of them off every list. Unless :whole, only the persons of
-- the temporary table suppression_persons are decided (smarketing/nurture/lists.py).
insert into nurture.suppressed (person_id, email, reason, evidence_at)
with persons as (
    select * from core.person
    where cast(:whole as boolean) or person_id = any(array(select person_id from suppression_persons))
),

reasons as (
    select person_mailbox.person_id, suppressed.reason, suppressed.evidence_at
    from core.person_mailbox as person_mailbox
    inner join nurture.suppressed_mailbox as suppressed on person_mailbox.mailbox_key = suppressed.mailbox_key
    where cast(:whole as boolean)
        or person_mailbox.person_id = any(array(select person_id from suppression_persons))
    union all
    select persons.person_id, 'merged_or_deleted', persons.updated_at
    from persons
    where persons.merged_into_person_id is not null or persons.is_deleted
    union all
    select persons.person_id, 'no_email', persons.updated_at
    from persons
    where persons.email is null
),

final as (
    select reasons.person_id, persons.email, reasons.reason, max(reasons.evidence_at) as evidence_at
    from reasons
    inner join persons on reasons.person_id = persons.person_id
    group by reasons.person_id, persons.email, reasons.reason
)

select * from final
