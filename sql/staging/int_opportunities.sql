-- Grain: one row per opportunity from any source, with the source record that names its person.
-- A file-drop deal is won when it has a won date or the stage Closed Won, lost likewise; its
-- close date defaults to that date (in UTC), its probability to 100 or 0 when closed.
create or replace view staging.int_opportunities as
with salesforce as (
    select * from staging.stg_salesforce__opportunities where not is_deleted
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
        product_line,
        null::text as segment,
        created_at,
        close_date,
        is_closed,
        is_won
    from salesforce
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
        coalesce(close_date, (coalesce(won_date, lost_date) at time zone 'UTC')::date),
        won_date is not null or lost_date is not null or stage in ('Closed Won', 'Closed Lost'),
        won_date is not null or stage = 'Closed Won'
    from file_deals
)

select * from final
