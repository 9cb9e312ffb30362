-- The persons that stand: not merged into another, not deleted in every system. Marts, lists and
-- lifecycle read this instead of repeating the filter (it was written five times).
create view core.active_person as
select * from core.person
where merged_into_person_id is null and not is_deleted;

