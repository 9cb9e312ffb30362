-- grain: one row per customer
-- key: customer_key
-- write: replace
-- An account (the deal's, else its person's), else a person without one, that won a deal by the
-- as-of date. ABC by cumulative revenue share (A while the revenue before it is under :abc_a of the
-- total, B under :abc_b, else C); RFM scores 1-5 (5 = most recent, most frequent, most revenue: the
-- quintile where the customer's group of equals begins, 1 + floor(5 x the share of customers below
-- it), so customers alike share a score and one-time buyers have frequency 1) and a named segment.
with won as (
    select
        coalesce('account:' || o.account_id, 'person:' || o.person_id) as customer_key,
        o.account_id, case when o.account_id is null then o.person_id end as person_id,
        coalesce(o.amount, 0) as amount, o.close_date
    from as_of_opportunities as o
    where o.is_won and o.close_date <= cast(:as_of as date) and (o.account_id is not null or o.person_id is not null)
),

customers as (
    select
        customer_key, max(account_id) as account_id, max(person_id) as person_id,
        cast(sum(amount) as numeric(18, 2)) as revenue, max(close_date) as last_purchase_date, count(*) as frequency
    from won group by customer_key
),

shares as (
    select
        *,
        revenue / nullif(sum(revenue) over (), 0) as revenue_share,
        coalesce(sum(revenue) over (order by revenue desc, customer_key rows between unbounded preceding and 1 preceding)
            / nullif(sum(revenue) over (), 0), 0) as share_before
    from customers
),

scored as (
    select
        *,
        cast(:as_of as date) - last_purchase_date as recency_days,
        1 + (5 * (rank() over (order by last_purchase_date) - 1) / count(*) over ())::integer as recency_score,
        1 + (5 * (rank() over (order by frequency) - 1) / count(*) over ())::integer as frequency_score,
        1 + (5 * (rank() over (order by revenue) - 1) / count(*) over ())::integer as monetary_score
    from shares
),

final as (
    select
        customer_key, account_id, person_id, revenue, round(coalesce(revenue_share, 0), 6) as revenue_share,
        case when share_before < cast(:abc_a as numeric) then 'A'
            when share_before < cast(:abc_b as numeric) then 'B' else 'C' end as abc_class,
        last_purchase_date, recency_days, frequency, recency_score, frequency_score, monetary_score,
        case
            when recency_score >= 4 and frequency_score >= 4 then 'Champions'
            when recency_score >= 4 and frequency_score <= 2 then 'New customers'
            when recency_score >= 3 and frequency_score >= 3 then 'Loyal'
            when recency_score <= 2 and frequency_score >= 3 then 'At risk'
            when recency_score <= 2 and frequency_score <= 2 then 'Hibernating'
            else 'Needs attention'
        end as rfm_segment
    from scored
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
