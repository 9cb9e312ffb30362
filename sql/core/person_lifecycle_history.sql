-- grain: one row per person per lifecycle stage period, in business time (SCD2)
-- key: person_id, valid_from
-- write: scoped
-- scope: person_id in (select person_id from merge_persons)
-- Each stage is valid from the moment it was reached until the next stage was; the history only
-- moves forward, so its current stage is the person's (core.person.lifecycle_stage) even when the
-- sources date a stage before an earlier one. Rebuilt for the persons in scope.
with events as (
    select
        *,
        array_position(array['lead', 'mql', 'sql', 'opportunity', 'customer'], stage) as stage_order
    from core.lifecycle_event
    where person_id in (select person_id from merge_persons)
),

ordered as (
    select distinct on (person_id, reached_at) person_id, stage, reached_at, stage_order
    from events
    order by person_id, reached_at, stage_order desc
),

forward as (  -- a stage dated after a later one (a deal won before the first contact) is no step back
    select
        *,
        max(stage_order) over (partition by person_id order by reached_at
                               rows between unbounded preceding and 1 preceding) as reached_before
    from ordered
),

final as (
    select
        person_id,
        stage as lifecycle_stage,
        reached_at as valid_from,
        lead(reached_at) over (partition by person_id order by reached_at) as valid_to
    from forward
    where reached_before is null or stage_order > reached_before
)

select person_id, lifecycle_stage, valid_from, valid_to, valid_to is null as is_current from final
