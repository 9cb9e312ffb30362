-- grain: one row per person per lifecycle stage reached (lead, MQL, SQL, opportunity, customer)
-- key: person_id, stage
-- write: scoped
-- scope: person_id in (select person_id from merge_persons)
-- Rebuilt for the persons in scope (merge_persons).
with persons as (
    select * from core.active_person
    where person_id in (select person_id from merge_persons)
),

first_opportunity as (
    select person_id, min(created_at) as reached_at
    from core.opportunity where person_id in (select person_id from persons)
    group by person_id
),

final as (
    select person_id, 'lead' as stage, lead_created_at as reached_at from persons where lead_created_at is not null
    union all
    select person_id, 'mql', mql_at from persons where mql_at is not null
    union all
    select person_id, 'sql', sql_at from persons where sql_at is not null
    union all
    select person_id, 'opportunity', reached_at from first_opportunity
    union all
    select person_id, 'customer', customer_at from persons where customer_at is not null
)

select * from final
