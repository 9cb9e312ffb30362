-- Accounts named in other scripts, second round (found by a README-only trial of V052):
-- - a legal form written with dots is the legal form in every script, as V050 made it in Latin
--   letters: Α.Ε. is ΑΕ, Ε.Π.Ε. is ΕΠΕ, О.О.О. is ООО (one-letter words in a row are joined first);
-- - Korean 주식회사 is removed: the key decomposes Hangul (NFKD), so the list matched nothing;
-- - V052 changed the keys of accounts V051 had made (ООО Ромашка was 'ооо ромашка', now
--   'ромашка'), so the next merge made new accounts for their records and left the old ones
--   without any. Accounts that are one under the key now are made one here: the oldest (lowest
--   id) keeps its id and takes the key; the records, persons, deals and touchpoints of the others
--   move to it and the others go. An upgrade from V051 keeps every account id; a warehouse a merge
--   already ran on under V052 gets its first ids back.

create or replace function core.account_name_key(value text) returns text
language sql immutable parallel safe as $$
    select case
        when value ~ '[\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]'
            then nullif(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                core.identity_company_key(value),
                '(?<=^|\s)(\S)\s(?=\S(\s|$))', '\1', 'g'),  -- one-letter words in a row joined: α ε -> αε
                '(^|\s)(ооо|оао|зао|пао|ао|ип|тов|αε|επε|ικε|οε|εε|kk)(?=\s|$)', '\1', 'g'),
                '株式会社|有限会社|合同会社|有限公司|股份有限公司|' || normalize('주식회사', nfkd), '', 'g'),
                '\s+', ' ', 'g')), '')
        else coalesce(core.normalize_company(value), core.identity_company_key(value))
    end
$$;

create temporary table account_merge on commit drop as
with keyed as (
    select account_id, match_key,
        case when match_key like 'name:%' and core.account_name_key(name) is not null
            then 'name:' || core.account_name_key(name) else match_key end as new_key
    from core.account
),

merged as (
    select new_key from keyed group by new_key having count(*) > 1 or bool_or(match_key <> new_key)
)

select keyed.account_id, keyed.match_key, keyed.new_key,
    min(keyed.account_id) over (partition by keyed.new_key) as kept_id
from keyed inner join merged using (new_key);

update core.account_identity as t set account_id = m.kept_id
from account_merge as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
update core.person as t set account_id = m.kept_id
from account_merge as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
update core.opportunity as t set account_id = m.kept_id
from account_merge as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
update core.touchpoint as t set account_id = m.kept_id
from account_merge as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
delete from core.account as a
using account_merge as m where a.account_id = m.account_id and m.account_id <> m.kept_id;
update core.account as a set match_key = m.new_key
from account_merge as m where a.account_id = m.kept_id and m.account_id = m.kept_id and a.match_key <> m.new_key;
