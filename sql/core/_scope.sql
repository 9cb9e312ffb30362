-- What this merge must recompute, from the records promoted into staging (merge_changes) and the
-- records identity resolution re-assigned (identity_affected). Each core step reads these:
-- merge_persons (persons whose attributes, lifecycle or consent may have moved) and
-- merge_opportunities (opportunities to upsert, with their stage history), merge_email_events
-- (events to link again: changed ones, those of persons in scope or to an address identity
-- resolution re-assigned, and those still without a campaign when campaigns changed).
create temporary table merge_opportunities on commit drop as
with changed as (
    select source, entity, record_id from merge_changes
),

direct as (
    select 'salesforce' as source, record_id as source_record_id from changed
    where source = 'salesforce' and entity = 'opportunities'
    union
    select 'file', record_id from changed where source = 'file' and entity = 'deals'
    union
    select 'salesforce', h.payload ->> 'OpportunityId'
    from staging.latest_salesforce__opportunity_history as h
    where h.record_id in (
        select record_id from changed where source = 'salesforce' and entity = 'opportunity_history'
    )
),

linked as (  -- opportunities whose person record or account moved
    select o.source, o.source_record_id
    from staging.int_opportunities as o
    where (o.source, o.person_entity, o.person_record_id) in (select source, entity, record_id from identity_affected)
        or o.account_source_id in (
            select record_id from changed where source = 'salesforce' and entity = 'accounts'
        )
)

select source, source_record_id from direct where source_record_id is not null
union
select source, source_record_id from linked;

create temporary table merge_persons on commit drop as
select old_person_id as person_id from identity_affected where old_person_id is not null
union
select new_person_id from identity_affected where new_person_id is not null
union
select i.person_id  -- a record of the person changed (a subscription status belongs to its contact)
from merge_changes as c
inner join core.person_identity as i
    on i.source = c.source and i.source_record_id = c.record_id and i.is_active
        and i.entity = case when c.entity = 'subscription_statuses' then 'contacts' else c.entity end
union
select o.person_id  -- the opportunity's person, before this merge moves it
from core.opportunity as o
where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
    and o.person_id is not null
union
select p.person_id  -- a new account may be theirs
from core.person as p
where p.account_id is null
    and exists (select 1 from merge_changes where entity in ('accounts', 'companies'));

create index on merge_persons (person_id);
analyze merge_persons;
analyze merge_opportunities;

create temporary table merge_email_events on commit drop as
select record_id as event_id from merge_changes where source = 'hubspot' and entity = 'email_events'
union
select source_record_id from core.email_event where person_id in (select person_id from merge_persons)
union
select e.source_record_id
from core.email_event as e
inner join identity_records as r on e.email_key = r.email_key
where r.record_key in (select record_key from identity_affected)
union
select source_record_id from core.email_event
where campaign_id is null and exists (select 1 from merge_changes where source = 'hubspot' and entity = 'campaigns');

analyze merge_email_events
