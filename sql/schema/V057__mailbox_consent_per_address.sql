-- core.mailbox_consent: one row per record, subscription and address. A file drop's opt-out holds
-- for the address of every landed row of the record that set it, also after a later row gives
-- the record another address (sql/core/mailbox_consent.sql); a row without an address suppresses
-- nothing and is no longer kept.
delete from core.mailbox_consent where email is null;
alter table core.mailbox_consent alter column email set not null;
alter table core.mailbox_consent drop constraint mailbox_consent_pkey;
alter table core.mailbox_consent add primary key (source, entity, record_id, subscription, email);
