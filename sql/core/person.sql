-- New persons: one per match key not seen before. Existing persons keep their person_id.
insert into core.person (match_key, email)
select distinct on (match_key) match_key, email
from staging.int_person_records
order by match_key
on conflict (match_key) do nothing
