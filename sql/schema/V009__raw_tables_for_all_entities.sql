-- Raw tables for every entity the HubSpot and Salesforce connectors read, so staging views
-- compile before the first page of an entity arrives. Same shape as V002; grain: one row per
-- record version.
create table if not exists raw.hubspot__companies (like raw.hubspot__contacts including all);
create table if not exists raw.hubspot__deals (like raw.hubspot__contacts including all);
create table if not exists raw.hubspot__subscription_statuses (like raw.hubspot__contacts including all);
create table if not exists raw.hubspot__form_submissions (like raw.hubspot__contacts including all);
create table if not exists raw.hubspot__campaigns (like raw.hubspot__contacts including all);
create table if not exists raw.salesforce__opportunity_history (like raw.hubspot__contacts including all);
create table if not exists raw.salesforce__tasks (like raw.hubspot__contacts including all);
create table if not exists raw.salesforce__events (like raw.hubspot__contacts including all);
create table if not exists raw.salesforce__campaigns (like raw.hubspot__contacts including all);
create table if not exists raw.salesforce__campaign_members (like raw.hubspot__contacts including all);
