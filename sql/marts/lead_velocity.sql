-- grain: one row per month
-- key: month
-- write: replace
-- MQLs and their growth over the previous month ((this - last) / last).
with monthly as (
    select month, mqls from marts.funnel where channel = 'all'
),

final as (
    select
        month, mqls,
        lag(mqls) over (order by month) as previous_month_mqls,
        round((mqls - lag(mqls) over (order by month))::numeric / nullif(lag(mqls) over (order by month), 0), 4)
            as mql_growth
    from monthly
)

select * from final
