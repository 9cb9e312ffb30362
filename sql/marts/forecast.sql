-- grain: one row per month
-- key: month
-- write: replace
-- For the as-of month and later: the open pipeline by expected close month and its weighted value
-- (amount x stage probability: the CRM's, else :stage_probabilities). For the twelve months up to
-- the as-of month: what the pipeline snapshot at the end of the previous month forecast for the
-- month (weighted; a deal overdue then was expected in the month, as overdue deals are in the as-of
-- month's open pipeline), what was won, and the accuracy 1 - |actual - forecast| / actual (floored at 0;
-- 0 when something was forecast and nothing won; empty when nothing was forecast). On the as-of
-- month's row: the weighted absolute percentage error of those twelve months,
-- sum |actual - forecast| / sum actual over the months with a forecast.
with probabilities as (
    select unnest(cast(:stage_names as text[])) as stage_name, unnest(cast(:stage_probabilities as numeric[])) as pct
),

as_of as (
    select cast(:as_of as date) as day, date_trunc('month', cast(:as_of as date))::date as month
),

open_now as (
    select o.close_date, coalesce(o.amount, 0) as amount, coalesce(o.probability, p.pct, 0) / 100.0 as probability
    from as_of_opportunities as o
    left join probabilities as p on o.stage_name = p.stage_name
    where not o.is_closed
),

pipeline_by_month as (
    select greatest(date_trunc('month', close_date)::date, (select as_of.month from as_of)) as month,
        sum(amount) as open_pipeline, sum(amount * probability) as weighted_pipeline
    from open_now group by 1
),

past_months as (
    select (date_trunc('month', (select as_of.day from as_of)) - make_interval(months => n))::date as month
    from generate_series(0, 11) as n
),

forecasts as (
    select m.month, sum(coalesce(d.amount, 0) * coalesce(d.probability, p.pct, 0) / 100.0) as forecast
    from past_months as m
    inner join core.opportunity_daily as d
        on d.snapshot_date = m.month - 1 and d.close_date < m.month + interval '1 month'  -- overdue ones too
    left join probabilities as p on d.stage_name = p.stage_name
    group by m.month
),

actuals as (
    select date_trunc('month', close_date)::date as month, sum(coalesce(amount, 0)) as actual_won
    from as_of_opportunities where is_won
    group by 1
),

months as (
    select month from pipeline_by_month
    union
    select month from past_months
),

year_error as (  -- weighted absolute percentage error over the twelve months that had a forecast
    select round(sum(abs(coalesce(a.actual_won, 0) - f.forecast)) / nullif(sum(coalesce(a.actual_won, 0)), 0), 4)
        as wape
    from forecasts as f
    left join actuals as a on f.month = a.month
),

final as (
    select
        m.month,
        cast(coalesce(p.open_pipeline, 0) as numeric(18, 2)) as open_pipeline,
        cast(coalesce(p.weighted_pipeline, 0) as numeric(18, 2)) as weighted_pipeline,
        cast(f.forecast as numeric(18, 2)) as forecast_at_month_start,
        cast(coalesce(a.actual_won, 0) as numeric(18, 2)) as actual_won,
        case
            when coalesce(a.actual_won, 0) > 0 and f.forecast is not null
                then round(greatest(0, 1 - abs(a.actual_won - f.forecast) / a.actual_won), 4)
            when f.forecast > 0 then 0  -- forecast, nothing won: as wrong as a forecast gets, and kept
        end as forecast_accuracy,
        case when m.month = (select as_of.month from as_of) then (select year_error.wape from year_error) end
            as wape_12_months
    from months as m
    left join pipeline_by_month as p on m.month = p.month
    left join forecasts as f on m.month = f.month
    left join actuals as a on m.month = a.month
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
