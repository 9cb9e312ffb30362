-- The deals as they stood at the as-of cutoff (marts.opportunity_as_of), made once per refresh for
-- the marts that read them, instead of once per mart.
-- key: opportunity_id
-- write: temp
select * from marts.opportunity_as_of(:cutoff, :as_of)
