-- Eligibility for win-back: people of A-class customers (marts.customer_segments) whose last
-- purchase is at least :min_days_since_purchase days before :as_of. Grain: one row per person.
select
    p.person_id,
    s.last_purchase_date,
    s.revenue
from marts.customer_segments as s
inner join core.person as p
    on (s.account_id is not null and p.account_id = s.account_id) or p.person_id = s.person_id
where s.abc_class = 'A'
    and s.last_purchase_date <= cast(:as_of as date) - cast(:min_days_since_purchase as integer)
