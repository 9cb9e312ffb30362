-- Eligibility for renewal: customers whose contract (:contract_months from the won deal's
-- close date) ends :min_days_ahead to :max_days_ahead days after :as_of. Grain: one row per person.
select
    o.person_id,
    max((o.close_date + make_interval(months => cast(:contract_months as integer)))::date) as contract_end_date
from core.opportunity as o
where o.is_won and o.person_id is not null
    and (o.close_date + make_interval(months => cast(:contract_months as integer)))::date
        between cast(:as_of as date) + cast(:min_days_ahead as integer)
        and cast(:as_of as date) + cast(:max_days_ahead as integer)
group by o.person_id
