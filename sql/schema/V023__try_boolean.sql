-- The staging projections are also what validation checks (over a batch's raw rows, before any
-- row is quarantined), so none of their casts may fail on a malformed value.
create function meta.try_boolean(value text) returns boolean
language plpgsql immutable as $$
begin
    return value::boolean;
exception when others then
    return null;
end;
$$;
