-- Who holds a mailbox, written once: the merge linked email events and form submissions to a
-- person, and scoped them, with three copies of the same join.

-- Grain: one row per person and mailbox key of one of their active source records.
create view core.record_mailbox as
select identity.person_id, record.email_key as mailbox_key
from core.person_identity as identity
inner join core.identity_record as record
    on (record.source, record.entity, record.record_id) = (identity.source, identity.entity, identity.source_record_id)
where identity.is_active and record.email_key is not null;

-- Grain: one row per mailbox key an active record holds: the person an email event or a form
-- submission from that mailbox belongs to (the lowest person id when several persons hold it).
create view core.mailbox_owner as
select distinct on (mailbox_key) mailbox_key, person_id
from core.record_mailbox
order by mailbox_key, person_id;

create or replace view core.person_mailbox as
select person.person_id, core.mailbox_key(person.email) as mailbox_key
from core.person as person
where person.email is not null
union
select person_id, mailbox_key from core.record_mailbox;
