-- Grain: one folder (destinations.files.url, resolved) nurture list files were written to. When
-- the url changes, the list files left at an earlier folder are removed (they would keep whoever
-- is suppressed from then on) and its row with them: smarketing/nurture/lists.py.
create table nurture.file_locations (
    url text primary key,
    first_written_at timestamptz not null default now()
);
