-- A company's legal form written with dots is the legal form (found by a README-only trial):
-- S.A. is SA, B.V. is BV, G.m.b.H. is GmbH, S.à r.l. is SARL. One-letter words in a row are
-- joined first (s a -> sa), so V034's list reads them; e.K., Pty and (haftungsbeschränkt) join
-- the list. Two companies differing only in spaces between initials (A B Dick, AB Dick) are one.
create or replace function core.identity_company_key(value text) returns text
language sql immutable parallel safe as $$
    select nullif(btrim(regexp_replace(regexp_replace(
        regexp_replace(core.normalize_person_name(value), '\m(\w) (?=\w\M)', '\1', 'g'),
        '\m(gmbh|ag|inc|incorporated|ltd|limited|llc|plc|sa|sas|sarl|bv|nv|oy|ab|as|aps|kg|kgaa|co|corp|corporation'
        '|company|se|ug|mbh|srl|spa|sl|sp zoo|ek|pty|haftungsbeschrankt)\M', '', 'g'), '\s+', ' ', 'g')), '')
$$;
