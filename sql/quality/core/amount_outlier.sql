-- why: one deal whose amount dwarfs the others (a typo, cents as units, a declared revenue that is
--     a company's turnover) moves revenue, win rate by amount and the forecast on its own
-- Checked: won deals with an amount, per currency. Unexpected, by a robust rule: a modified z-score
-- above 3.5 (|amount - median| / (1.4826 x the median absolute deviation), or the mean absolute
-- deviation x 1.2533 when that is 0; Iglewicz and Hoaglin) among at least 5 deals, or more than
-- half of the currency's won amount among at least 3.
with won as (
    select currency, amount
    from core.opportunity
    where is_won and amount is not null
),

centre as (
    select currency, count(*) as deals, sum(amount) as total,
        percentile_cont(0.5) within group (order by amount) as median
    from won group by currency
),

spread as (
    select c.currency,
        percentile_cont(0.5) within group (order by abs(w.amount - c.median)) as mad,
        avg(abs(w.amount - c.median)) as mean_ad
    from won as w inner join centre as c on w.currency = c.currency
    group by c.currency
),

scored as (
    select
        w.amount, c.deals, w.amount / nullif(c.total, 0) as share,
        case
            when s.mad > 0 then abs(w.amount - c.median) / (1.4826 * s.mad)
            when s.mean_ad > 0 then abs(w.amount - c.median) / (1.2533 * s.mean_ad)
            else 0
        end as z
    from won as w
    inner join centre as c on w.currency = c.currency
    inner join spread as s on w.currency = s.currency
)

select
    count(*) as checked,
    count(*) filter (where (deals >= 5 and z > 3.5) or (deals >= 3 and share > 0.5)) as unexpected
from scored
