-- grain: one row per opportunity owner per segment (the deal's segment, else its account's
--     industry, else 'unknown'), over deals closed by the as-of date
-- key: owner_id, segment
-- write: replace
-- The owner's name where a system gives one (core.owner), else the id. Win rates by count and by
-- amount, average won deal size, and the average sales cycle (created to closed, won deals).
with closed as (
    select
        coalesce(o.owner_id, 'unassigned') as owner_id,
        coalesce(w.name, o.owner_id, 'unassigned') as owner_name,
        coalesce(o.segment, a.industry, 'unknown') as segment,
        o.is_won, o.amount,  -- null without an exchange rate: in no sum or average
        o.close_date - (o.created_at at time zone current_setting('TimeZone'))::date as cycle_days
    from as_of_opportunities as o
    left join core.account as a on o.account_id = a.account_id
    left join core.owner as w on o.source = w.source and o.owner_id = w.owner_id
    where o.is_closed and o.close_date <= cast(:as_of as date)
),

final as (
    select
        owner_id, segment,
        max(owner_name) as owner_name,
        count(*) as closed_opportunities,
        count(*) filter (where is_won) as won_opportunities,
        round(avg(is_won::int), 4) as win_rate_by_count,
        round(coalesce(sum(amount) filter (where is_won), 0) / nullif(sum(amount), 0), 4) as win_rate_by_amount,
        cast(avg(amount) filter (where is_won) as numeric(18, 2)) as avg_deal_size,
        round(avg(cycle_days) filter (where is_won), 2) as avg_sales_cycle_days
    from closed
    group by owner_id, segment
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
