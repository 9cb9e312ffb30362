-- Grain: one row per opportunity from any source, with the source record that names its person.
-- A CRM's deals count unless meta.deal_sources names another CRM (deals_system_of_record in
-- config/sources.yaml); file-drop deals always count.
-- Custom fields (custom) named product_line and segment fill those columns.
-- A HubSpot deal's stage is its pipeline stage mapped onto the shared stages
-- (stg_hubspot__deal_stages); closed and won come from the deal, else from that stage.
-- A file-drop deal is won when it has a won date or the stage Closed Won, lost likewise; its
-- close date defaults to that day (in the reporting time zone), its probability to 100 or 0 when
-- closed.
create or replace view staging.int_opportunities as
with counted as (
    select 'salesforce' as source
    union all
    select 'hubspot'
    except
    select s.source from (select 'salesforce' as source union all select 'hubspot') as s
    where exists (select 1 from meta.deal_sources) and s.source not in (select source from meta.deal_sources)
),

salesforce as (
    select * from staging.stg_salesforce__opportunities
    where not is_deleted and 'salesforce' in (select source from counted)
),

hubspot as (
    select
        d.*,
        s.stage,
        coalesce(d.is_closed, s.is_closed, false) as closed,
        coalesce(d.is_won, s.is_closed and s.probability >= 100, false) as won,
        coalesce(d.probability, s.probability) as win_probability
    from staging.stg_hubspot__deals as d
    left join staging.stg_hubspot__deal_stages as s on d.pipeline_id = s.pipeline_id and d.stage_id = s.stage_id
    where not d.is_deleted and 'hubspot' in (select source from counted)
),

file_deals as (
    select * from staging.stg_file__deals where not is_deleted
),

final as (
    select
        'salesforce' as source,
        opportunity_id as source_record_id,
        'contacts' as person_entity,
        contact_id as person_record_id,
        account_id as account_source_id,
        opportunity_name as name,
        stage_name,
        amount,
        currency,
        lead_source,
        probability,
        owner_id,
        custom ->> 'product_line' as product_line,
        custom ->> 'segment' as segment,
        created_at,
        close_date,
        is_closed,
        is_won,
        custom
    from salesforce
    union all
    select
        'hubspot',
        deal_id,
        'contacts',
        contact_id,
        company_id,
        deal_name,
        coalesce(stage, stage_id),
        amount,
        currency,
        lead_source,
        win_probability,
        owner_id,
        custom ->> 'product_line',
        custom ->> 'segment',
        created_at,
        (closed_at at time zone current_setting('TimeZone'))::date,
        closed,
        won,
        custom
    from hubspot
    union all
    select
        'file',
        record_id,
        person_entity,
        person_record_id,
        account_id,
        name,
        coalesce(stage, case when won_date is not null then 'Closed Won' when lost_date is not null then 'Closed Lost' end),
        coalesce(amount, declared_amount),
        currency,
        origin_channel,
        coalesce(probability, case when won_date is not null then 100 when lost_date is not null then 0 end),
        owner_id,
        product_line,
        segment,
        coalesce(created_date, won_date, lost_date),
        coalesce(close_date, (coalesce(won_date, lost_date) at time zone current_setting('TimeZone'))::date),
        won_date is not null or lost_date is not null or coalesce(stage in ('Closed Won', 'Closed Lost'), false),
        won_date is not null or coalesce(stage = 'Closed Won', false),
        '{}'::jsonb
    from file_deals
)

select * from final
