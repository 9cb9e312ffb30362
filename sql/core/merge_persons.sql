-- The scope of this merge, part 2: the persons whose attributes, lifecycle or consent may have
-- moved. Reads the opportunities' and persons' state before this merge changes it;
-- opportunity_persons.sql adds the persons the opportunities belong to afterwards.
-- key: person_id
-- before: opportunity, person_attributes, removed_opportunities
-- write: temp
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
    and exists (select 1 from merge_changes where entity in ('accounts', 'companies'))
