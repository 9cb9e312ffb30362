-- An account's key without a domain: its name as V008's core.normalize_company reads it, and when
-- that reads nothing (a name in Greek, Cyrillic or Japanese: V008 keeps ASCII letters only) the
-- company key identity compares names by (V050: any alphabet, case folded). Such accounts were
-- dropped without a word; accounts V008 keyed keep their keys.

create function core.account_name_key(value text) returns text
language sql immutable parallel safe as $$
    select coalesce(core.normalize_company(value), core.identity_company_key(value))
$$;
