-- A file's held batch (its suite over the failure share) is released by the file's next version:
-- the new load supersedes the batches of earlier loads of that file that validation has not passed
-- (all of the drop's, for a snapshot or a reload), and validation and promotion skip them.
alter table meta.batches add column superseded_at timestamptz;
alter table meta.file_loads add column batch_id uuid;

-- Suppression reads the rows of batches validation has not passed in every entity that can opt a
-- mailbox out (sql/nurture/suppressed_mailbox.sql): their raw tables exist before a first file lands.
do $$
declare
    entity text;
begin
    foreach entity in array array['contacts', 'email_events', 'subscriptions'] loop
        execute format('create table if not exists raw.%I (like raw.hubspot__contacts including all)',
                       'file__' || entity);
        execute format('call meta.close_checked_batches(%L)', 'raw.file__' || entity);
    end loop;
end
$$;
