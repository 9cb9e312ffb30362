-- Eligibility for win-back: people of A-class customers (marts.customer_segments) whose last
-- purchase is at least :min_days_since_purchase days before :as_of. Grain: one row per person.
with customers as (
    select * from marts.customer_segments
    where abc_class = 'A'
        and last_purchase_date <= cast(:as_of as date) - cast(:min_days_since_purchase as integer)
)

-- the people of the customer's account, and the customer who is a person without one (two joins:
-- one join on either condition compared every customer with every person)
select p.person_id, c.last_purchase_date, c.revenue, c.currency
from customers as c
inner join core.person as p on c.account_id = p.account_id
union
select p.person_id, c.last_purchase_date, c.revenue, c.currency
from customers as c
inner join core.person as p on c.person_id = p.person_id
