-- Keys identity compares that prove nothing are no keys (issue 19, found by a trial).

-- A phone number of fewer than four different digits in its last eight (000-000-0000, a
-- placeholder) is no number.
create or replace function core.identity_phone_key(value text) returns text
language sql immutable parallel safe as $$
    select case
        when length(regexp_replace(coalesce(value, ''), '\D', '', 'g')) >= 7
            and (select count(distinct digit) from regexp_split_to_table(
                right(regexp_replace(value, '\D', '', 'g'), 8), '') as digit) >= 4
            then right(regexp_replace(value, '\D', '', 'g'), 8)
    end
$$;

-- A LinkedIn profile written with percent-encoding (j%C3%BCrgen) is the one written with its
-- letters (jürgen); a value that does not decode is compared as written.
create or replace function core.identity_linkedin_key(value text) returns text
language plpgsql immutable parallel safe as $$
declare
    slug text := substring(value from '(?i)linkedin\.com/in/([^/?#[:space:]]+)');
begin
    if slug is null then
        return null;
    end if;
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
    return 'linkedin.com/in/' || core.email_fold(slug);
end
$$;

-- Two first names one typo apart, except a difference in the last letter only, which makes
-- another name more often than a typo does (Emil and Emily, Paul and Paula, Maria and Marie).
create function core.identity_first_name_typo(a text, b text) returns boolean
language sql immutable parallel safe as $$
    select a = b or (core.identity_typo_apart(a, b)
        and left(a, -1) <> left(b, -1) and a <> left(b, -1) and b <> left(a, -1))
$$;
