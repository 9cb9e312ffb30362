-- Amounts in one reporting currency (config/kpis.yaml reporting_currency). An opportunity keeps
-- its own amount and currency (deal_amount, deal_currency); amount is in the reporting currency
-- (currency), converted at the rate of its close date, and null when no rate is known: two
-- currencies are never summed as they are.
alter table core.opportunity
    add column deal_amount numeric(18, 2),
    add column deal_currency text;

-- Grain: one row per currency per source of rates per period: units of the reporting currency one
-- unit of the currency is worth from valid_from (inclusive) to valid_to (exclusive). Written by
-- sql/core/exchange_rate.sql; priority orders the sources (the lowest wins).
create table core.exchange_rate (
    currency text not null,
    source text not null,
    valid_from date not null,
    valid_to date not null,
    rate numeric not null check (rate > 0),
    priority integer not null,
    primary key (currency, source, valid_from)
);
