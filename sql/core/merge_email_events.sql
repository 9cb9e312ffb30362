-- The scope of this merge, part 3: the email events to link again: changed ones, those of the
-- persons identity resolution re-assigned records of (an address a record left) or to an address
-- of a re-assigned record (an address a record took), and those still without a campaign when
-- campaigns changed. An event's person is its mailbox's owner (core.mailbox_owner), which only
-- identity moves: the other persons in scope (merge_persons: changed attributes, opportunities)
-- keep their events' links.
-- key: source, event_id
-- before: email_event
-- write: temp
select source, record_id as event_id from merge_changes
where (source, entity) in (('hubspot', 'email_events'), ('file', 'email_events'))
union
select source, source_record_id from core.email_event
where person_id in (select old_person_id from identity_affected union all select new_person_id from identity_affected)
union
select e.source, e.source_record_id
from core.email_event as e
inner join identity_records as r on e.email_key = r.email_key
where r.record_key in (select record_key from identity_affected)
union
select source, source_record_id from core.email_event
where campaign_id is null and exists (select 1 from merge_changes where entity = 'campaigns')
