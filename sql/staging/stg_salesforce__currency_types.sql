-- Grain: one row per currency of a multi-currency Salesforce org (CurrencyType), with its rate:
-- units of the currency one unit of the org's corporate currency is worth.
create or replace view staging.stg_salesforce__currency_types as
select
    upper(payload ->> 'IsoCode') as currency,
    meta.try_numeric(payload ->> 'ConversionRate') as conversion_rate,
    coalesce(meta.try_boolean(payload ->> 'IsCorporate'), false) as is_corporate,
    coalesce(meta.try_boolean(payload ->> 'IsActive'), true) as is_active
from staging.latest_salesforce__currency_types as latest
where not is_deleted
