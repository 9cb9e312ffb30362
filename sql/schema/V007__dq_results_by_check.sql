-- Data-quality results are keyed by the check's name (meta.check in the suite), so two checks of
-- the same expectation type on one column (a lower and an upper bound) keep separate rows.
alter table meta.dq_results add column check_name text;
update meta.dq_results set check_name = expectation || coalesce('(' || nullif(column_name, '') || ')', '');
alter table meta.dq_results alter column check_name set not null;
alter table meta.dq_results drop constraint dq_results_pkey;
alter table meta.dq_results add primary key (run_id, suite, check_name);
alter table meta.dq_results add column rows_quarantined bigint not null default 0;
