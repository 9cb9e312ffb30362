-- How many raw rows a batch had when validation checked it. The checked-batch trigger (V020,
-- V043) looks at a batch when a row is inserted, so a row a loader inserted before a check and
-- committed after it joined a checked batch unchecked (found by a README-only trial). Promotion
-- counts the batch's rows again and sends a batch that grew back to validation. Null: validated
-- before this column, trusted as before.
alter table meta.batches add column rows_checked integer;
