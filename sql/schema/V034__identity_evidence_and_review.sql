-- Identity resolution weighs more evidence than name and company, knows nicknames, and leaves a
-- true tie to a person (sql/identity/*.sql, smarketing/identity.py).

-- A company's name as identity compares it: the name in any alphabet (core.normalize_person_name),
-- legal forms removed ("Müller Bau GmbH & Co. KG" is "muller bau").
create function core.identity_company_key(value text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(regexp_replace(
        core.normalize_person_name(value),
        '\m(gmbh|ag|inc|incorporated|ltd|limited|llc|plc|sa|sas|sarl|bv|nv|oy|ab|as|aps|kg|kgaa|co|corp|corporation'
        '|company|se|ug|mbh|srl|spa|sl|sp z o o|a s)\M', '', 'g'), '\s+', ' ', 'g')), '')
$$;

-- A phone number as identity compares it: its last eight digits, which are past any country code
-- or trunk prefix, so +49 30 1234567, 030 1234567 and (030) 123-4567 are one number, and so are
-- +43 1 5550123 and 01 5550123; fewer than seven digits are no number.
create function core.identity_phone_key(value text) returns text
language sql immutable parallel safe as $$
    select case when length(regexp_replace(coalesce(value, ''), '\D', '', 'g')) >= 7
        then right(regexp_replace(value, '\D', '', 'g'), 8) end
$$;

-- Two name parts one typo apart: equal, or (four letters and more) one letter added, dropped or
-- changed, or two neighbours swapped (Jonas, Jonsa).
create function core.identity_typo_apart(a text, b text) returns boolean
language sql immutable parallel safe as $$
    select a = b or (least(length(a), length(b)) >= 4 and (
        levenshtein(a, b) = 1
        or (levenshtein(a, b) = 2 and length(a) = length(b)
            and array(select unnest(string_to_array(a, null)) order by 1)
            = array(select unnest(string_to_array(b, null)) order by 1)
            and (select count(*) from generate_series(1, length(a)) as i
                where substr(a, i, 1) <> substr(b, i, 1)) = 2)
    ))
$$;

-- A LinkedIn profile as identity compares it: linkedin.com/in/<slug>, lower case, without scheme,
-- subdomain, query or trailing slash.
create function core.identity_linkedin_key(value text) returns text
language sql immutable parallel safe as $$
    select 'linkedin.com/in/' || substring(lower(value) from 'linkedin\.com/in/([^/?#[:space:]]+)')
$$;

-- Grain: one row per (name, canonical first name) of the nickname lists identity resolution
-- reads (smarketing/nicknames.py): Bob -> robert, Sepp -> josef. Written by each merge whose
-- lists differ from the last one's.
create table meta.nickname (
    name text not null,
    canonical text not null,
    primary key (name, canonical)
);

alter table core.identity_record
    add column first_name_forms text[],   -- the first name and the formal names it is a nickname of
    add column phone_key text,
    add column title_key text,
    add column city_key text,
    add column linkedin_key text,
    add column synced_records text[];     -- the records a HubSpot-Salesforce sync names on this one
create index on core.identity_record (phone_key) where phone_key is not null;
create index on core.identity_record (linkedin_key) where linkedin_key is not null;

alter table core.identity_edge add column evidence jsonb;

-- Grain: one row per pair of records resolution could not decide (a true tie: the record's best
-- matches are two people), with the evidence of each side. Rebuilt for the records a merge
-- re-resolves; a pair with a decision never returns.
create table core.identity_review (
    left_record text not null,
    right_record text not null,
    match_score numeric not null,
    evidence jsonb,
    reason text not null,
    first_seen_at timestamptz not null default now(),
    primary key (left_record, right_record)
);

-- Grain: one row per pair of records a person decided about (`smarketing identity review`):
-- 'same' joins them, 'different' keeps them apart, in every later merge, full refreshes included.
create table meta.identity_decision (
    left_record text not null,
    right_record text not null,
    decision text not null check (decision in ('same', 'different')),
    decided_by text not null,
    note text,
    decided_at timestamptz not null default now(),
    applied_at timestamptz,
    primary key (left_record, right_record),
    check (left_record < right_record)
);
