-- The typed rows of the batches a suite is checking, materialised once per check (an unlogged
-- table dropped right after), so Great Expectations' queries, one or more per expectation, read
-- plain columns instead of parsing every payload again.
create schema if not exists quality_work;
