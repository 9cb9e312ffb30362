-- core.mailbox_keys splits a field at any Unicode space, as at an ASCII one: a no-break space
-- (U+00A0), a thin, ideographic or zero-width space, a byte-order mark, a line or paragraph
-- separator, NEL. core.mailbox_key deletes them, so "a@x.example<NBSP>b@x.example" was one key
-- no mailbox has, and an opt-out of a quarantined row holding both suppressed neither.
create or replace function core.mailbox_keys(field text) returns setof text
language sql immutable parallel safe as $$
    select core.mailbox_key(field) where core.mailbox_key(field) is not null
    union
    select core.mailbox_key(address[1])
    from regexp_matches(
        regexp_replace(field, '[\u0085\u00a0\u1680\u180e\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]',
            ' ', 'g'),
        '[^]@\s,;<>"''()/|\\[+，、；][^]@\s,;<>"''()/|\\[，、；]*@[^]@\s,;<>"''()/|\\[+，、；]+', 'g') as address
    where length(field) - length(replace(field, '@', '')) > 1
$$;
