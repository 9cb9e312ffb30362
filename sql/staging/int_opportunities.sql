-- Grain: one row per opportunity from any source, with the source record that names its person.
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
        'file', deal_id, 'leads', lead_id, null, null, 'Closed Won', amount, currency, null, 100, null, null, segment,
        won_date::timestamptz, won_date, true, true
    from file_deals
)

select * from final
