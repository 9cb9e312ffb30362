-- Grain: one row per person on one program's list for one as-of date.
-- Every program's eligibility goes through this statement, so nobody in nurture.suppressed,
-- nobody without an email address and no merged-away or deleted person can reach a list,
-- whatever the program selects.
insert into nurture.list_members (program, as_of, person_id, email, first_name, last_name, attributes)
with eligible as (
    {eligibility}
),

final as (
    select
        cast(:program as text) as program,
        cast(:as_of as date) as as_of,
        p.person_id,
        p.email,
        p.first_name,
        p.last_name,
        to_jsonb(e) - 'person_id' as attributes
    from eligible as e
    inner join core.person as p on e.person_id = p.person_id
    where p.email is not null
        and p.merged_into_person_id is null
        and not p.is_deleted
        and not exists (select 1 from nurture.suppressed as s where s.person_id = p.person_id)
        -- an address suppressed for anyone is suppressed for everyone who shares it
        and not exists (select 1 from nurture.suppressed as s where lower(s.email) = lower(p.email))
)

select * from final
