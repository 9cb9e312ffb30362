-- grain: one row per UTC calendar month per channel (the person's source channel; 'all' is every
--     channel together), from the first month with activity to the as-of month
-- key: month, channel
-- write: replace
-- Counts: persons reaching each stage in the month; opportunities created and won in the month.
-- Rates are cohort conversions: of the persons reaching stage A in the month, the share that
-- reached stage B by the as-of date (opportunities: of those created in the month, the share won).
-- End to end: of the month's leads (MQLs), the share that became customers by the as-of date, and
-- the median days from first contact to the first won deal. Days: the average time between the
-- two stages for that cohort. Months run from the first month any stage was reached. A person
-- who skipped a stage passed through it at the later stage's time (marts.person_as_of); the
-- *_passed_through counts say how many of a stage's people did; a duration to or from a stage
-- passed through is left out of the day averages and the median (it would be 0, or another one's).
with first_opportunities as (
    select person_id, min(created_at) as first_opportunity_at
    from as_of_opportunities where person_id is not null
    group by person_id
),

persons as (
    select p.person_id, coalesce(p.source_channel, 'unknown') as channel, p.lead_created_at, p.mql_at, p.sql_at,
        p.customer_at, f.first_opportunity_at, p.skipped_stages
    from as_of_persons as p
    left join first_opportunities as f on p.person_id = f.person_id
),

persons_by_channel as (
    select * from persons
    union all
    select person_id, 'all' as channel, lead_created_at, mql_at, sql_at, customer_at, first_opportunity_at,
        skipped_stages
    from persons
),

opportunities as (
    select o.opportunity_id, coalesce(p.source_channel, 'unknown') as channel, o.created_at, o.close_date, o.is_won,
        o.amount  -- null without an exchange rate: counted in no sum
    from as_of_opportunities as o
    left join core.person as p on o.person_id = p.person_id
),

opportunities_by_channel as (
    select * from opportunities
    union all
    select opportunity_id, 'all' as channel, created_at, close_date, is_won, amount from opportunities
),

lead_cohorts as (
    select date_trunc('month', lead_created_at at time zone current_setting('TimeZone'))::date as month, channel,
        count(*) as leads,
        count(*) filter (where 'lead' = any(skipped_stages)) as leads_passed_through,
        avg((mql_at is not null)::int) as lead_to_mql_rate,
        avg(extract(epoch from mql_at - lead_created_at) / 86400) filter (
            where mql_at >= lead_created_at and not skipped_stages && array['lead', 'mql']
        ) as avg_days_lead_to_mql,
        avg((customer_at is not null)::int) as lead_to_won_rate,
        percentile_cont(0.5) within group (order by extract(epoch from customer_at - lead_created_at) / 86400)
            filter (where customer_at >= lead_created_at and not 'lead' = any(skipped_stages))
            as median_days_first_contact_to_won
    from persons_by_channel where lead_created_at is not null group by 1, 2
),

mql_cohorts as (
    select date_trunc('month', mql_at at time zone current_setting('TimeZone'))::date as month, channel,
        count(*) as mqls,
        count(*) filter (where 'mql' = any(skipped_stages)) as mqls_passed_through,
        avg((sql_at is not null)::int) as mql_to_sql_rate,
        avg(extract(epoch from sql_at - mql_at) / 86400) filter (
            where sql_at >= mql_at and not skipped_stages && array['mql', 'sql']
        ) as avg_days_mql_to_sql,
        avg((customer_at is not null)::int) as mql_to_won_rate
    from persons_by_channel where mql_at is not null group by 1, 2
),

sql_cohorts as (
    select date_trunc('month', sql_at at time zone current_setting('TimeZone'))::date as month, channel,
        count(*) as sqls,
        count(*) filter (where 'sql' = any(skipped_stages)) as sqls_passed_through,
        avg((first_opportunity_at is not null)::int) as sql_to_opportunity_rate,
        avg(extract(epoch from customer_at - sql_at) / 86400) filter (
            where customer_at >= sql_at and not 'sql' = any(skipped_stages)
        ) as avg_days_sql_to_won
    from persons_by_channel where sql_at is not null group by 1, 2
),

opportunity_cohorts as (
    select date_trunc('month', created_at at time zone current_setting('TimeZone'))::date as month, channel,
        count(*) as opportunities,
        avg(is_won::int) as opportunity_to_won_rate
    from opportunities_by_channel group by 1, 2
),

wins as (
    select date_trunc('month', close_date)::date as month, channel, count(*) as won, sum(amount) as won_amount
    from opportunities_by_channel where is_won group by 1, 2
),

bounds as (  -- from the first month any stage was reached (an export may lack lead dates)
    select min(month) as first_month, date_trunc('month', cast(:as_of as date))::date as last_month
    from (
        select month from lead_cohorts
        union all select month from mql_cohorts
        union all select month from sql_cohorts
        union all select month from opportunity_cohorts
        union all select month from wins
    ) as m
),

grid as (
    select gs::date as month, c.channel
    from bounds
    cross join generate_series(bounds.first_month, bounds.last_month, interval '1 month') as gs
    cross join (select distinct channel from persons_by_channel) as c
),

final as (
    select
        g.month,
        marts.fiscal_year(g.month, cast(:fiscal_start as integer)) as fiscal_year,
        marts.fiscal_quarter(g.month, cast(:fiscal_start as integer)) as fiscal_quarter,
        g.channel,
        coalesce(l.leads, 0) as leads,
        coalesce(m.mqls, 0) as mqls,
        coalesce(s.sqls, 0) as sqls,
        coalesce(o.opportunities, 0) as opportunities,
        coalesce(w.won, 0) as won,
        cast(coalesce(w.won_amount, 0) as numeric(18, 2)) as won_amount,  -- deals without an amount add 0
        round(l.lead_to_mql_rate, 4) as lead_to_mql_rate,
        round(m.mql_to_sql_rate, 4) as mql_to_sql_rate,
        round(s.sql_to_opportunity_rate, 4) as sql_to_opportunity_rate,
        round(o.opportunity_to_won_rate, 4) as opportunity_to_won_rate,
        round(l.avg_days_lead_to_mql, 2) as avg_days_lead_to_mql,
        round(m.avg_days_mql_to_sql, 2) as avg_days_mql_to_sql,
        round(s.avg_days_sql_to_won, 2) as avg_days_sql_to_won,
        round(l.lead_to_won_rate, 4) as lead_to_won_rate,
        round(m.mql_to_won_rate, 4) as mql_to_won_rate,
        round(cast(l.median_days_first_contact_to_won as numeric), 2) as median_days_first_contact_to_won,
        coalesce(l.leads_passed_through, 0) as leads_passed_through,
        coalesce(m.mqls_passed_through, 0) as mqls_passed_through,
        coalesce(s.sqls_passed_through, 0) as sqls_passed_through
    from grid as g
    left join lead_cohorts as l on g.month = l.month and g.channel = l.channel
    left join mql_cohorts as m on g.month = m.month and g.channel = m.channel
    left join sql_cohorts as s on g.month = s.month and g.channel = s.channel
    left join opportunity_cohorts as o on g.month = o.month and g.channel = o.channel
    left join wins as w on g.month = w.month and g.channel = w.channel
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
