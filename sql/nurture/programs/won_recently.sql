-- Eligibility for programs about a recent purchase (onboarding, recent_customers): persons with
-- a deal won on :as_of or in the :window_days days before it. Grain: one row per person.
select
    o.person_id,
    max(o.close_date) as won_date,
    sum(o.amount) as won_amount,  -- in the reporting currency (a deal without an exchange rate adds nothing)
    min(o.currency) as currency
from core.opportunity as o
where o.is_won
    and o.person_id is not null
    and o.close_date between cast(:as_of as date) - cast(:window_days as integer) and cast(:as_of as date)
group by o.person_id
