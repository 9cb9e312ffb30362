-- Eligibility for cross-sell: customers who bought product line :from_line and never
-- :to_line (by :as_of). Grain: one row per person.
select
    o.person_id,
    max(o.close_date) as last_purchase_date
from core.opportunity as o
where o.is_won and o.person_id is not null and o.close_date <= cast(:as_of as date)
group by o.person_id
having bool_or(o.product_line = cast(:from_line as text))
    and not bool_or(coalesce(o.product_line = cast(:to_line as text), false))
