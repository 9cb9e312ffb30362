-- File drops apply file versions: a load is one file's content read with one mapping, so a file
-- edited, reverted or read with a changed mapping applies again (an append drop adds its records,
-- a snapshot drop's newest file replaces the drop's records and marks the missing ones deleted).
-- A file's size and modification time let an unchanged file (a rejected one too) be skipped
-- without reading it again.

-- Grain: one row per file name, content and mapping per drop.
alter table meta.file_loads drop constraint file_loads_pkey;
alter table meta.file_loads add column mapping_digest text not null default '';
alter table meta.file_loads add column size_bytes bigint;
alter table meta.file_loads add column modified text;
alter table meta.file_loads add column rows_deleted integer not null default 0;
alter table meta.file_loads add primary key (drop_name, file_name, checksum, mapping_digest);
