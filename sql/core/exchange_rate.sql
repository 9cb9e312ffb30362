-- grain: one row per currency per source of rates per period: units of the reporting currency
--     (:reporting_currency) one unit of the currency is worth from valid_from to valid_to
-- key: currency, source, valid_from
-- write: scoped
-- scope: true
-- Sources by priority (the lowest wins for a day): the reporting currency itself; exchange_rates
-- file drops (one timeline per currency: a rate holds until the currency's next one, whatever base
-- either is quoted in; a rate in another base currency goes through that base's rate in the
-- reporting currency from the same drops); Salesforce's dated rates, then its currency table
-- (both quoted against the org's corporate currency, so the reporting currency's own rate there
-- converts them); last, config/kpis.yaml exchange_rates, the fallback.
with reporting as (
    select cast(:reporting_currency as text) as code
),

configured as (
    select code as currency, 'reporting' as source, '-infinity'::date as valid_from, 'infinity'::date as valid_to,
        1::numeric as rate, 0 as priority
    from reporting
    union all
    select c.currency, 'config', '-infinity'::date, 'infinity'::date, c.rate, 4
    from unnest(cast(:rate_currencies as text[]), cast(:rate_values as numeric[])) as c (currency, rate)
    where c.currency <> (select code from reporting)
),

file_rows as (  -- one rate per currency and day: one quoted in the reporting currency first, then the latest
    select distinct on (upper(f.currency), coalesce(f.valid_from, '-infinity'))
        upper(f.currency) as currency,
        upper(coalesce(f.base_currency, r.code)) as base,
        coalesce(f.valid_from, '-infinity'::date) as valid_from,
        f.rate
    from staging.stg_file__exchange_rates as f
    cross join reporting as r
    where not f.is_deleted and f.rate > 0 and f.currency is not null
        and upper(f.currency) <> upper(coalesce(f.base_currency, r.code))
    order by upper(f.currency), coalesce(f.valid_from, '-infinity'),
        upper(coalesce(f.base_currency, r.code)) = r.code desc, f.version_at desc
),

file_periods as (
    select
        *,
        coalesce(lead(valid_from) over (partition by currency order by valid_from), 'infinity'::date) as valid_to
    from file_rows
),

file_rates as (
    select currency, 'file' as source, valid_from, valid_to, rate, 1 as priority
    from file_periods
    where base = (select code from reporting)
    union all
    select x.currency, 'file', greatest(x.valid_from, b.valid_from), least(x.valid_to, b.valid_to),
        x.rate * b.rate, 1
    from file_periods as x
    inner join file_periods as b
        on b.currency = x.base and b.base = (select code from reporting)
            and x.valid_from < b.valid_to and b.valid_from < x.valid_to
    where x.base <> (select code from reporting) and x.currency <> (select code from reporting)
),

salesforce_types as (
    select * from staging.stg_salesforce__currency_types where conversion_rate > 0
),

dated as (  -- every currency against the corporate one by period; the corporate currency is always 1
    select currency, start_date, next_start_date, conversion_rate
    from staging.stg_salesforce__dated_conversion_rates
    where conversion_rate > 0
    union all
    select currency, '-infinity'::date, 'infinity'::date, 1
    from salesforce_types
    where is_corporate and exists (select 1 from staging.stg_salesforce__dated_conversion_rates)
),

salesforce_rates as (
    select x.currency, 'salesforce_dated' as source, greatest(x.start_date, r.start_date) as valid_from,
        least(x.next_start_date, r.next_start_date) as valid_to, r.conversion_rate / x.conversion_rate as rate,
        2 as priority
    from dated as x
    inner join dated as r
        on r.currency = (select code from reporting)
            and x.start_date < r.next_start_date and r.start_date < x.next_start_date
    where x.currency <> (select code from reporting)
    union all
    select x.currency, 'salesforce', '-infinity'::date, 'infinity'::date, r.conversion_rate / x.conversion_rate, 3
    from salesforce_types as x
    inner join salesforce_types as r on r.currency = (select code from reporting)
    where x.currency <> r.currency
),

final as (
    select * from configured
    union all
    select * from file_rates
    union all
    select * from salesforce_rates
)

select distinct on (currency, source, valid_from) currency, source, valid_from, valid_to, rate, priority
from final
where valid_from < valid_to
order by currency, source, valid_from, valid_to desc
