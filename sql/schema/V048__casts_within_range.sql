-- A second README-only trial of V045 and V046: a time word glued to a time ('10:00today',
-- 'today10:00') still read as the wall-clock day, since V045 looked for whole words only; a number
-- no double precision holds (1e400, 1e-400) made a range check that compares it as one fail to run
-- and hold its whole batch at every run; milliseconds of 1e-330 made try_epoch_ms raise instead of
-- answering, which stopped validation at every run. The words are refused wherever they stand,
-- such a number is no number, and milliseconds are read to the microsecond.
create or replace function meta.try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
declare
    parsed timestamptz;
begin
    if value ~* '(epoch|infinity|now|today|tomorrow|yesterday|allballs)' or not pg_input_is_valid(value, 'timestamptz')
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
    if value ~* '(epoch|infinity|now|today|tomorrow|yesterday|allballs)' or not pg_input_is_valid(value, 'date') then
        return null;
    end if;
    parsed := value::date;
    return case when parsed between '0001-01-01' and '9999-12-31' then parsed end;
end;
$$;

create or replace function meta.try_numeric(value text) returns numeric
language plpgsql immutable as $$
declare
    parsed numeric;
begin
    if value !~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$' or not pg_input_is_valid(value, 'numeric')
    then
        return null;
    end if;
    parsed := value::numeric;
    return case when parsed = 0 or abs(parsed) between 1e-300 and 1e300 then parsed end;
end;
$$;

create or replace function meta.try_epoch_ms(value text) returns timestamptz
language plpgsql immutable as $$
declare
    millis numeric := round(meta.try_numeric(value), 3);
begin
    -- from 0001-01-02 to before 9999-12-31 (UTC), as meta.try_timestamptz: a year in any time zone
    if millis is null or millis < -62135510400000 or millis >= 253402214400000 then
        return null;
    end if;
    return to_timestamp(millis / 1000.0);
end;
$$;
