-- Grain: one row per dated exchange rate of a Salesforce org with advanced currency management
-- (DatedConversionRate): units of the currency one unit of the corporate currency is worth, from
-- start_date (inclusive) to next_start_date (exclusive; infinity for the current rate).
create or replace view staging.stg_salesforce__dated_conversion_rates as
select
    upper(payload ->> 'IsoCode') as currency,
    meta.try_numeric(payload ->> 'ConversionRate') as conversion_rate,
    coalesce(meta.try_date(payload ->> 'StartDate'), '-infinity'::date) as start_date,
    coalesce(meta.try_date(payload ->> 'NextStartDate'), 'infinity'::date) as next_start_date
from staging.latest_salesforce__dated_conversion_rates as latest
where not is_deleted
