-- The persons as the marts see them at the as-of cutoff (marts.person_as_of), made once per refresh
-- for the marts that read them, instead of once per mart.
-- key: person_id
-- write: temp
select * from marts.person_as_of(:cutoff)
