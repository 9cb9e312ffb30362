-- grain: one row per person per lifecycle stage period, in business time (SCD2)
-- write: scoped
-- scope: person_id in (select person_id from merge_persons)
-- Each stage is valid from the moment it was reached until the next stage was. Rebuilt for the
-- persons in scope.
with events as (
    select
        *,
        array_position(array['lead', 'mql', 'sql', 'opportunity', 'customer'], stage) as stage_order
    from core.lifecycle_event
    where person_id in (select person_id from merge_persons)
),

ordered as (
    select distinct on (person_id, reached_at) person_id, stage, reached_at
    from events
    order by person_id, reached_at, stage_order desc
),

final as (
    select
        person_id,
        stage as lifecycle_stage,
        reached_at as valid_from,
        lead(reached_at) over (partition by person_id order by reached_at) as valid_to
    from ordered
)

select person_id, lifecycle_stage, valid_from, valid_to, valid_to is null as is_current from final
