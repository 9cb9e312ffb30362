-- The scope of this merge, part 1: the opportunities to upsert with their stage history (changed
-- opportunity records and their history, and opportunities whose person record identity
-- resolution re-assigned or whose account changed). From the records promoted into staging
-- (merge_changes) and those identity resolution re-assigned (identity_affected). A changed line
-- item brings its deal now and the deal it was on before (it may have moved, or been deleted).
-- key: source, source_record_id
-- before: opportunity, opportunity_line_item, removed_opportunities
-- write: temp
with changed as (
    select source, entity, record_id from merge_changes
),

direct as (
    select 'salesforce' as source, record_id as source_record_id from changed
    where source = 'salesforce' and entity = 'opportunities'
    union
    select 'hubspot', record_id from changed where source = 'hubspot' and entity = 'deals'
    union
    select 'hubspot', l.deal_id
    from staging.stg_hubspot__line_items as l
    where l.record_id in (select record_id from changed where source = 'hubspot' and entity = 'line_items')
    union
    select o.source, o.source_record_id
    from core.opportunity_line_item as l
    inner join core.opportunity as o on l.opportunity_id = o.opportunity_id
    where l.source = 'hubspot'
        and l.source_record_id in (select record_id from changed where source = 'hubspot' and entity = 'line_items')
    union
    select 'file', record_id from changed where source = 'file' and entity = 'deals'
    union
    select 'file', h.deal_id
    from staging.stg_file__deal_stages as h
    where h.record_id in (select record_id from changed where source = 'file' and entity = 'deal_stages')
    union
    select 'salesforce', h.payload ->> 'OpportunityId'
    from staging.latest_salesforce__opportunity_history as h
    where h.record_id in (
        select record_id from changed where source = 'salesforce' and entity = 'opportunity_history'
    )
),

rates as (  -- a rate arrived: every opportunity in another currency than the reporting one
    select o.source, o.source_record_id
    from staging.int_opportunities as o
    where coalesce(o.currency, cast(:reporting_currency as text)) <> cast(:reporting_currency as text)
        and exists (select 1 from changed where entity in ('exchange_rates', 'currency_types',
                                                           'dated_conversion_rates'))
),

linked as (  -- opportunities whose person record, account or pipeline stages moved
    select o.source, o.source_record_id
    from staging.int_opportunities as o
    where exists (select 1 from identity_affected as f  -- not "in": a list joined by "or" must fit work_mem
                  where f.source = o.source and f.entity = o.person_entity and f.record_id = o.person_record_id)
        or (o.source, o.account_source_id) in (select source, record_id from changed
                                               where entity in ('accounts', 'companies'))
        or (o.source = 'hubspot' and exists (select 1 from changed where source = 'hubspot'
                                                                     and entity = 'deal_pipelines'))
)

select source, source_record_id from direct where source_record_id is not null
union
select source, source_record_id from linked
union
select source, source_record_id from rates
