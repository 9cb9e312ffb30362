-- grain: one row per person
-- key: person_id
-- write: replace
-- Every funnel date (a skipped stage at the later stage's time, named in skipped_stages), source
-- channel, first and last touch campaign, owner, opportunities and won revenue.
with persons as (
    select * from as_of_persons
),

opportunities as (
    select person_id, min(created_at) as first_opportunity_at, count(*) as opportunities,
        count(*) filter (where is_won) as won_opportunities,
        coalesce(sum(amount) filter (where is_won), 0) as won_amount
    from as_of_opportunities where person_id is not null
    group by person_id
),

campaign_touches as (
    select t.person_id, c.name, t.occurred_at, t.source_record_id
    from core.touchpoint as t
    inner join core.campaign as c on t.campaign_id = c.campaign_id
    where t.occurred_at < :cutoff
),

first_touch as (
    select distinct on (person_id) person_id, name
    from campaign_touches order by person_id, occurred_at, source_record_id
),

last_touch as (
    select distinct on (person_id) person_id, name
    from campaign_touches order by person_id, occurred_at desc, source_record_id desc
),

final as (
    select
        p.person_id, coalesce(p.source_channel, 'unknown') as source_channel, p.owner_id, p.account_id, p.lead_created_at, p.mql_at, p.sql_at,
        o.first_opportunity_at, p.customer_at,
        nullif(array_to_string(p.skipped_stages, ', '), '') as skipped_stages,
        f.name as first_touch_campaign,
        l.name as last_touch_campaign,
        coalesce(o.opportunities, 0) as opportunities,
        coalesce(o.won_opportunities, 0) as won_opportunities,
        cast(coalesce(o.won_amount, 0) as numeric(18, 2)) as won_amount
    from persons as p
    left join opportunities as o on p.person_id = o.person_id
    left join first_touch as f on p.person_id = f.person_id
    left join last_touch as l on p.person_id = l.person_id
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
