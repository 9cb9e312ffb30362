-- A batch validation held back (its suite over the failure share) is judged apart from the batches
-- that land after it: judged with them, clean rows diluted its share and its rows reached core as
-- they were. held_at says when validation first held it; a held batch is validated again on its
-- own at every run (a raised max_failure_share releases it) until the next version of its file
-- supersedes it.
alter table meta.batches add column held_at timestamptz;
