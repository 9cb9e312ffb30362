-- core.mailbox_keys splits a field of several addresses at any character no address has and a
-- reader does not see: control characters (U+0001-001F, U+007F-009F: the file, group, record
-- and unit separators among them), format characters (soft hyphen, the zero-width and
-- direction marks), Unicode spaces (as V059), fillers (U+2800 braille blank, U+3164 and U+FFA0
-- Hangul fillers), the middle dot and the object replacement character.
create or replace function core.mailbox_keys(field text) returns setof text
language sql immutable parallel safe as $$
    select core.mailbox_key(field) where core.mailbox_key(field) is not null
    union
    select core.mailbox_key(address[1])
    from regexp_matches(
        regexp_replace(field,
            '[\u0001-\u001f\u007f-\u00a0\u00ad\u00b7\u061c\u115f\u1160\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064'
            '\u2066-\u206f\u2800\u3000\u3164\ufeff\uffa0\ufff9-\ufffc]', ' ', 'g'),
        '[^]@\s,;<>"''()/|\\[+，、；][^]@\s,;<>"''()/|\\[，、；]*@[^]@\s,;<>"''()/|\\[+，、；]+', 'g') as address
    where length(field) - length(replace(field, '@', '')) > 1
$$;
