-- A person's name as identity resolution compares it, whatever its alphabet and the server's
-- collation (smarketing/names.py is its Python twin, checked equal by
-- tests/integration/test_person_names.py): lower case by the collation-free table of
-- core.email_fold; accents and other combining marks removed (Unicode NFKD); letters without a
-- decomposition written out (ß ss, æ ae, œ oe, þ th, ø o, ł l, đ and ð d, ı i, ħ h); the German
-- transliterations ae, oe, ue read as their base letter, so Müller, Muller and Mueller are one
-- name; punctuation and spaces of any script one space. Letters of other scripts (Cyrillic, Greek,
-- Chinese) stay, lower-cased. core.normalize_name, used for company names, is left as it was.
create function core.normalize_person_name(value text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(
        replace(replace(replace(
            translate(
                replace(replace(replace(replace(
                    regexp_replace(normalize(core.email_fold(coalesce(value, '')), nfkd), '[\u0300-\u036f]', '', 'g'),
                    'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th'),
                'øłđðıħς', 'olddihσ'),
            'ae', 'a'), 'oe', 'o'), 'ue', 'u'),
        '[[:space:][:punct:]\u00a0-\u00bf\u2000-\u206f\u3000-\u303f\ufeff]+', ' ', 'g')), '')
$$;
