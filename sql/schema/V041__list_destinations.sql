-- Nurture lists reach more platforms (Mailchimp audience tags, Salesforce campaigns) besides
-- HubSpot lists. nurture.platform_sync keeps, per program, platform and person, what the platform
-- holds: record_id is the platform's key of the person (HubSpot contact id, Mailchimp subscriber
-- hash, Salesforce contact or lead id) and member_id the platform's id of the membership itself
-- where it has one (a Salesforce CampaignMember), which a removal needs.
alter table nurture.platform_sync add column member_id text;
create index on nurture.platform_sync (platform, list_id) where in_list;

-- A Mailchimp audience is a source: its members' statuses and its abuse reports suppress. Their
-- landing tables exist from the start, as every connector's do (V009), so suppression can read
-- the batches validation has not passed yet.
create table if not exists raw.mailchimp__members (like raw.hubspot__contacts including all);
create table if not exists raw.mailchimp__abuse_reports (like raw.hubspot__contacts including all);
