-- Grain: one row per source record, linked to its person with the rule that matched it.
insert into core.person_identity (source, entity, source_record_id, person_id, match_rule, match_score)
select
    r.source,
    r.entity,
    r.record_id,
    p.person_id,
    case when r.email is not null then 'email_exact' else 'source_record' end as match_rule,
    1.0 as match_score
from staging.int_person_records as r
inner join core.person as p on r.match_key = p.match_key
on conflict (source, entity, source_record_id) do update
set person_id = excluded.person_id,
    match_rule = excluded.match_rule,
    last_seen_at = now()
where core.person_identity.person_id is distinct from excluded.person_id
