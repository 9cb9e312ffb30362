-- The safe casts of the staging views (V005, V023, V024) ask the type's input function whether a
-- value parses (pg_input_is_valid, PostgreSQL 16) instead of catching its error. An exception
-- block opens a subtransaction per call, and ending one scans the whole relation cache once the
-- transaction has created more than a few dozen relations, as the merge does with its temporary
-- tables: a merge read the staging view of 185,000 email events in 2.3 s instead of 0.4 s
-- (make bench; auto_explain). Same results: tests/integration/test_safe_casts.py compares them
-- with the catching versions.
do $$
begin
    if current_setting('server_version_num')::integer < 160000 then
        raise exception 'the warehouse needs PostgreSQL 16 or newer (pg_input_is_valid); this server is %',
            current_setting('server_version');
    end if;
end
$$;

create or replace function meta.try_timestamptz(value text) returns timestamptz
language plpgsql immutable as $$
begin
    if not pg_input_is_valid(value, 'timestamptz') then
        return null;
    end if;
    return value::timestamptz;
end;
$$;

create or replace function meta.try_date(value text) returns date
language plpgsql immutable as $$
begin
    if not pg_input_is_valid(value, 'date') then
        return null;
    end if;
    return value::date;
end;
$$;

create or replace function meta.try_boolean(value text) returns boolean
language plpgsql immutable as $$
begin
    if not pg_input_is_valid(value, 'boolean') then
        return null;
    end if;
    return value::boolean;
end;
$$;

create or replace function meta.try_numeric(value text) returns numeric
language plpgsql immutable as $$
declare
    parsed numeric;
begin
    if not pg_input_is_valid(value, 'numeric') then
        return null;
    end if;
    parsed := value::numeric;
    if parsed = 'NaN'::numeric or parsed in ('Infinity'::numeric, '-Infinity'::numeric) then
        return null;
    end if;
    return parsed;
end;
$$;

-- The LinkedIn key (V035) opens its subtransaction only for a slug with percent-encoding: one
-- without is its own decoding.
create or replace function core.identity_linkedin_key(value text) returns text
language plpgsql immutable parallel safe as $$
declare
    slug text := substring(value from '(?i)linkedin\.com/in/([^/?#[:space:]]+)');
begin
    if slug is null then
        return null;
    end if;
    if position('%' in slug) > 0 then
        begin
            slug := convert_from(
                (select string_agg(case when part ~ '^%[0-9A-Fa-f]{2}$' then decode(substr(part, 2), 'hex')
                                   else convert_to(part, 'UTF8') end, ''::bytea order by n)
                 from regexp_matches(slug, '%[0-9A-Fa-f]{2}|[^%]+|%', 'g') with ordinality as m (parts, n),
                      lateral (select m.parts[1] as part) as p),
                'UTF8');
        exception when others then
            null;  -- not UTF-8 once decoded: keep it as written
        end;
    end if;
    return 'linkedin.com/in/' || core.email_fold(slug);
end
$$;
