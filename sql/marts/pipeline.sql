-- grain: one row per opportunity
-- key: opportunity_id
-- write: replace
-- Marketing-sourced: the person's source channel is a marketing channel (:marketing_channels), or
-- marketing touched them before they became a lead. Marketing-influenced: a marketing touch reached
-- them in the :lookback_days before the opportunity was created (every sourced opportunity is
-- influenced too when touched).
with opportunities as (  -- the lead date passed through when the person has none (marts.person_as_of)
    select o.*, p.source_channel, p.lead_created_at
    from as_of_opportunities as o
    left join as_of_persons as p on o.person_id = p.person_id
),

final as (
    select
        o.opportunity_id,
        date_trunc('month', o.created_at at time zone current_setting('TimeZone'))::date as created_month,
        cast(o.amount as numeric(18, 2)) as amount,
        o.is_won,
        o.is_closed,
        coalesce(o.source_channel = any(cast(:marketing_channels as text[])), false) or exists (
            select 1 from core.touchpoint as t
            where t.person_id = o.person_id and t.occurred_at <= coalesce(o.lead_created_at, o.created_at)
                and t.occurred_at < :cutoff
        ) as is_marketing_sourced,
        exists (
            select 1 from core.touchpoint as t
            where t.person_id = o.person_id and t.occurred_at <= o.created_at
                and t.occurred_at > o.created_at - make_interval(days => cast(:lookback_days as integer))
        ) as is_marketing_influenced
    from opportunities as o
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
