-- The shared KPI marts (BI reads these) and the warehouse roles.

drop table marts.funnel;

-- Grain: one row per UTC calendar month per channel ('all' is every channel together).
create table marts.funnel (
    month date not null,
    fiscal_year integer not null,
    fiscal_quarter integer not null,
    channel text not null,
    leads integer not null,
    mqls integer not null,
    sqls integer not null,
    opportunities integer not null,
    won integer not null,
    won_amount numeric(18, 2) not null,
    lead_to_mql_rate numeric,
    mql_to_sql_rate numeric,
    sql_to_opportunity_rate numeric,
    opportunity_to_won_rate numeric,
    avg_days_lead_to_mql numeric,
    avg_days_mql_to_sql numeric,
    avg_days_sql_to_won numeric,
    primary key (month, channel)
);

-- Grain: one row per person.
create table marts.lead_to_revenue (
    person_id bigint primary key,
    source_channel text,
    owner_id text,
    account_id bigint,
    lead_created_at timestamptz,
    mql_at timestamptz,
    sql_at timestamptz,
    first_opportunity_at timestamptz,
    customer_at timestamptz,
    first_touch_campaign text,
    last_touch_campaign text,
    opportunities integer not null,
    won_opportunities integer not null,
    won_amount numeric(18, 2) not null
);

-- Grain: one row per person who became an MQL.
create table marts.lead_response_time (
    person_id bigint primary key,
    mql_at timestamptz not null,
    mql_month date not null,
    first_activity_at timestamptz,
    response_hours numeric,
    is_within_sla boolean not null
);

-- Grain: one row per opportunity per campaign that touched its person in the lookback window.
create table marts.attribution (
    opportunity_id bigint not null,
    campaign_id bigint not null,
    campaign_name text,
    channel text,
    touches integer not null,
    first_touch_credit numeric not null,
    last_touch_credit numeric not null,
    linear_credit numeric not null,
    w_shaped_credit numeric not null,
    opportunity_amount numeric(18, 2),
    is_won boolean not null,
    primary key (opportunity_id, campaign_id)
);

-- Grain: one row per opportunity: was it sourced or influenced by marketing.
create table marts.pipeline (
    opportunity_id bigint primary key,
    created_month date not null,
    amount numeric(18, 2),
    is_won boolean not null,
    is_closed boolean not null,
    is_marketing_sourced boolean not null,
    is_marketing_influenced boolean not null
);

-- Grain: one row per expected close month (open pipeline) and per past month (accuracy).
create table marts.forecast (
    month date primary key,
    open_pipeline numeric(18, 2) not null,
    weighted_pipeline numeric(18, 2) not null,
    forecast_at_month_start numeric(18, 2),
    actual_won numeric(18, 2) not null,
    forecast_accuracy numeric
);

-- Grain: one row per owner per segment.
create table marts.sales_performance (
    owner_id text not null,
    segment text not null,
    closed_opportunities integer not null,
    won_opportunities integer not null,
    win_rate_by_count numeric,
    win_rate_by_amount numeric,
    avg_deal_size numeric(18, 2),
    avg_sales_cycle_days numeric,
    primary key (owner_id, segment)
);

-- Grain: one row per customer (an account, else a person without one).
create table marts.customer_segments (
    customer_key text primary key,
    account_id bigint,
    person_id bigint,
    revenue numeric(18, 2) not null,
    revenue_share numeric not null,
    abc_class text not null,
    last_purchase_date date not null,
    recency_days integer not null,
    frequency integer not null,
    recency_score integer not null,
    frequency_score integer not null,
    monetary_score integer not null,
    rfm_segment text not null
);

-- Grain: one row per email campaign.
create table marts.email_performance (
    campaign_id bigint primary key,
    campaign_name text,
    sent integer not null,
    delivered integer not null,
    unique_opens integer not null,
    unique_clicks integer not null,
    bounces integer not null,
    unsubscribes integer not null,
    delivery_rate numeric,
    unique_open_rate numeric,
    click_to_open_rate numeric,
    bounce_rate numeric,
    unsubscribe_rate numeric
);

-- Grain: one row per month.
create table marts.lead_velocity (
    month date primary key,
    mqls integer not null,
    previous_month_mqls integer,
    mql_growth numeric
);

-- Grain: one row per month: the headline KPIs of the dashboard.
create table marts.kpi_summary (
    month date primary key,
    fiscal_year integer not null,
    leads integer not null,
    mqls integer not null,
    sqls integer not null,
    won integer not null,
    won_amount numeric(18, 2) not null,
    mql_to_sql_rate numeric,
    win_rate numeric,
    avg_deal_size numeric(18, 2),
    median_response_hours numeric,
    p90_response_hours numeric,
    share_within_sla numeric,
    marketing_sourced_pipeline numeric(18, 2) not null,
    marketing_influenced_pipeline numeric(18, 2) not null,
    mql_growth numeric
);

-- Roles: BI reads marts only; marketing reads marts and nurture; the loader writes everything.
-- raw, staging, core and quarantine hold personal data and stay closed to BI and marketing.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'smarketing_bi') then
        create role smarketing_bi nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'smarketing_marketing') then
        create role smarketing_marketing nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'smarketing_loader') then
        create role smarketing_loader nologin;
    end if;
end;
$$;

revoke all on schema raw, quarantine, staging, core, meta from public;
grant usage on schema marts to smarketing_bi, smarketing_marketing;
grant select on all tables in schema marts to smarketing_bi, smarketing_marketing;
alter default privileges in schema marts grant select on tables to smarketing_bi, smarketing_marketing;
grant usage on schema nurture to smarketing_marketing;
grant select on all tables in schema nurture to smarketing_marketing;
alter default privileges in schema nurture grant select on tables to smarketing_marketing;
grant usage, create on schema raw, quarantine, staging, core, marts, nurture, meta to smarketing_loader;
grant select, insert, update, delete, truncate on all tables in schema raw, quarantine, staging, core, marts,
    nurture, meta to smarketing_loader;
grant usage, select on all sequences in schema core to smarketing_loader;
alter default privileges in schema raw, quarantine, staging, core, marts, nurture, meta
    grant select, insert, update, delete, truncate on tables to smarketing_loader;

-- Fiscal periods: a fiscal year is named after the calendar year it ends in.
create function marts.fiscal_year(day date, start_month integer) returns integer
language sql immutable parallel safe as $$
    select extract(year from day - make_interval(months => start_month - 1))::integer
        + case when start_month > 1 then 1 else 0 end
$$;

create function marts.fiscal_quarter(day date, start_month integer) returns integer
language sql immutable parallel safe as $$
    select ((extract(month from day - make_interval(months => start_month - 1))::integer - 1) / 3) + 1
$$;
