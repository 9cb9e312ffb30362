-- A file-drop row quarantined keeps the id of the record it names (payload ->> 'record_id'):
-- its opt-out holds for that record (staging's opt_out kind looks it up per record).
create index quarantine_records_named_record_idx on quarantine.records (entity, (payload ->> 'record_id'))
where source = 'file';
