-- Grain: one row per mailbox on one program's list for one as-of date (the lowest person id of
-- those sharing it). Every program's eligibility goes through this statement, so no suppressed
-- person (nurture.suppressed), no suppressed mailbox in any spelling (nurture.suppressed_mailbox),
-- nobody without an email address and no merged-away or deleted person can reach a list,
-- whatever the program selects.
insert into nurture.list_members (program, as_of, person_id, email, mailbox_key, first_name, last_name, attributes)
with eligible as (
    {eligibility}
),

candidates as (
    select
        person.person_id,
        person.email,
        core.mailbox_key(person.email) as mailbox_key,
        person.first_name,
        person.last_name,
        to_jsonb(eligible) - 'person_id' as attributes
    from eligible
    inner join core.active_person as person on eligible.person_id = person.person_id
    where person.email is not null
        and not exists (select 1 from nurture.suppressed as suppressed where suppressed.person_id = person.person_id)
),

final as (
    select distinct on (candidates.mailbox_key)
        cast(:program as text) as program,
        cast(:as_of as date) as as_of,
        candidates.person_id,
        candidates.email,
        candidates.mailbox_key,
        candidates.first_name,
        candidates.last_name,
        candidates.attributes
    from candidates
    where not exists (
        select 1 from nurture.suppressed_mailbox as suppressed where suppressed.mailbox_key = candidates.mailbox_key
    )
    order by candidates.mailbox_key, candidates.person_id
)

select * from final
