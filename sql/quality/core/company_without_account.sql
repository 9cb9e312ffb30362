-- why: a company with neither a domain nor a name beyond a legal form ("GmbH", "Ltd.") has no
--     account: its contacts, leads and deals count without one (find them: the staging views
--     stg_salesforce__accounts, stg_hubspot__companies and stg_file__accounts where domain is null
--     and core.account_name_key(name) is null)
-- Checked: the companies of every system that are not deleted. Unexpected: those without an account key.
with companies as (
    select account_name as name, domain from staging.stg_salesforce__accounts where not is_deleted
    union all
    select company_name, domain from staging.stg_hubspot__companies where not is_deleted
    union all
    select name, domain from staging.stg_file__accounts where not is_deleted
)

select
    count(*) as checked,
    count(*) filter (where domain is null and core.account_name_key(name) is null) as unexpected
from companies
