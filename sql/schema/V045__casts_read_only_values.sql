-- The safe casts read values, not PostgreSQL's words and notations (found by a README-only
-- trial): a close date 'infinity' passed validation (its range check could not compare it) and
-- failed the merge; 'today' and 'now' became the processing day, 'epoch' 1970-01-01; an amount
-- '0x10' read as 16 and '1_000' as 1000. A date or time before year 1 or after 9999 is no value
-- either: Python holds none, so Great Expectations' range check of such a value failed without
-- naming a row, and the whole batch passed. Each is null now, as any other value that is no date
-- or number, so a not-null check quarantines it.
create or replace function meta.try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
declare
    parsed timestamptz;
begin
    if value ~* '\m(epoch|infinity|now|today|tomorrow|yesterday|allballs)\M' or not pg_input_is_valid(value, 'timestamptz')
    then
        return null;
    end if;
    parsed := value::timestamptz;
    return case when parsed >= '0001-01-02' and parsed < '9999-12-31' then parsed end;  -- in any time zone
end;
$$;

create or replace function meta.try_date(value text) returns date
language plpgsql immutable as $$
declare
    parsed date;
begin
    if value ~* '\m(epoch|infinity|now|today|tomorrow|yesterday|allballs)\M' or not pg_input_is_valid(value, 'date') then
        return null;
    end if;
    parsed := value::date;
    return case when parsed between '0001-01-01' and '9999-12-31' then parsed end;
end;
$$;

-- Digits with at most one decimal point and an exponent: no NaN, Infinity, 0x10, 0b101, 0o17 or
-- 1_000 (PostgreSQL 16 reads the last four as integers).
create or replace function meta.try_numeric(value text) returns numeric
language plpgsql immutable as $$
begin
    if value !~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' or not pg_input_is_valid(value, 'numeric')
    then
        return null;
    end if;
    return value::numeric;
end;
$$;
