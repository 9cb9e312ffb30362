-- Casts that return null instead of failing, so one malformed value is quarantined by a
-- not-null expectation rather than failing a whole batch's query.
create function meta.try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
begin
    return value::timestamptz;
exception when others then
    return null;
end;
$$;

create function meta.try_numeric(value text) returns numeric
language plpgsql immutable as $$
begin
    return value::numeric;
exception when others then
    return null;
end;
$$;

create function meta.try_date(value text) returns date
language plpgsql immutable as $$
begin
    return value::date;
exception when others then
    return null;
end;
$$;
