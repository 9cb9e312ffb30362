-- grain: one row per month
-- key: month
-- write: replace
-- The dashboard's headline KPIs, read from the other marts so no number is derived twice. Win rate
-- and average deal size are over deals closed in the month.
with funnel as (
    select * from marts.funnel where channel = 'all'
),

closed as (
    select date_trunc('month', close_date)::date as month,
        avg(is_won::int) as win_rate, avg(amount) filter (where is_won) as avg_deal_size
    from as_of_opportunities where is_closed
    group by 1
),

response as (
    select mql_month as month,
        percentile_cont(0.5) within group (order by coalesce(response_business_hours, response_hours))
            as median_hours,
        percentile_cont(0.9) within group (order by coalesce(response_business_hours, response_hours))
            as p90_hours,
        avg(is_within_sla::int) as share_within_sla
    from marts.lead_response_time group by 1
),

pipeline as (
    select created_month as month,
        coalesce(sum(amount) filter (where is_marketing_sourced), 0) as sourced,
        coalesce(sum(amount) filter (where is_marketing_influenced), 0) as influenced
    from marts.pipeline group by 1
),

final as (
    select
        f.month, f.fiscal_year, f.leads, f.mqls, f.sqls, f.won, f.won_amount, f.mql_to_sql_rate,
        round(c.win_rate, 4) as win_rate,
        cast(c.avg_deal_size as numeric(18, 2)) as avg_deal_size,
        round(r.median_hours::numeric, 2) as median_response_hours,
        round(r.p90_hours::numeric, 2) as p90_response_hours,
        round(r.share_within_sla, 4) as share_within_sla,
        cast(coalesce(p.sourced, 0) as numeric(18, 2)) as marketing_sourced_pipeline,
        cast(coalesce(p.influenced, 0) as numeric(18, 2)) as marketing_influenced_pipeline,
        v.mql_growth
    from funnel as f
    left join closed as c on f.month = c.month
    left join response as r on f.month = r.month
    left join pipeline as p on f.month = p.month
    left join marts.lead_velocity as v on f.month = v.month
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
