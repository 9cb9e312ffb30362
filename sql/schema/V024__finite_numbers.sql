-- A number a column can hold: 'NaN' and 'Infinity' are numerics to PostgreSQL, and they passed
-- "not negative" checks, then failed the merge (an infinite amount) or every rate of its month
-- (NaN). They now read as no number, which the checks quarantine.
create or replace function meta.try_numeric(value text) returns numeric
language plpgsql immutable as $$
declare
    parsed numeric;
begin
    parsed := value::numeric;
    if parsed = 'NaN'::numeric or parsed in ('Infinity'::numeric, '-Infinity'::numeric) then
        return null;
    end if;
    return parsed;
exception when others then
    return null;
end;
$$;
