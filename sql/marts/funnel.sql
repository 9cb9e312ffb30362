-- Grain: one row per UTC calendar month, from the first month with activity to the as-of month.
-- leads: persons first known that month; mqls/sqls: persons reaching the stage that month;
-- opportunities: created that month; won: closed won that month (by close date).
insert into marts.funnel (month, leads, mqls, sqls, opportunities, won, won_amount)
with persons as (
    select * from core.person where merged_into_person_id is null and not is_deleted
),

opportunities as (
    select * from core.opportunity
),

events as (
    select date_trunc('month', lead_created_at at time zone 'UTC')::date as month, 'lead' as kind, 0 as amount
    from persons where lead_created_at is not null
    union all
    select date_trunc('month', mql_at at time zone 'UTC')::date, 'mql', 0
    from persons where mql_at is not null
    union all
    select date_trunc('month', sql_at at time zone 'UTC')::date, 'sql', 0
    from persons where sql_at is not null
    union all
    select date_trunc('month', created_at at time zone 'UTC')::date, 'opportunity', 0
    from opportunities
    union all
    select date_trunc('month', close_date)::date, 'won', coalesce(amount, 0)
    from opportunities where is_won
),

bounds as (
    select min(month) as first_month, date_trunc('month', cast(:as_of as date))::date as last_month
    from events
),

months as (
    select generate_series(first_month, last_month, interval '1 month')::date as month
    from bounds
),

final as (
    select
        m.month,
        count(*) filter (where e.kind = 'lead') as leads,
        count(*) filter (where e.kind = 'mql') as mqls,
        count(*) filter (where e.kind = 'sql') as sqls,
        count(*) filter (where e.kind = 'opportunity') as opportunities,
        count(*) filter (where e.kind = 'won') as won,
        coalesce(sum(e.amount) filter (where e.kind = 'won'), 0) as won_amount
    from months as m
    left join events as e on m.month = e.month
    group by m.month
)

select * from final
