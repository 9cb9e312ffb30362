-- Eligibility for the recent_customers program: persons with a won opportunity closed in
-- the :window_days days up to and including :as_of. Grain: one row per person.
select
    o.person_id,
    max(o.close_date) as won_date,
    sum(o.amount) as won_amount
from core.opportunity as o
where o.is_won
    and o.person_id is not null
    and o.close_date > cast(:as_of as date) - cast(:window_days as integer)
    and o.close_date <= cast(:as_of as date)
group by o.person_id
