-- V051's account name key read a name with letters of another script and a Latin legal form
-- ("Ελληνική Εταιρεία S.A.", "Ромашка S.A.") as V008 did: its ASCII letters only, the legal form
-- ("s a"), one account for every such company. A name with Greek, Cyrillic, Hebrew, Arabic,
-- Devanagari, Thai, Japanese, Chinese or Korean letters is keyed as identity keys company names,
-- with the legal forms of those languages removed too (ООО, АО, ΑΕ, 株式会社, ...); a name in
-- Latin letters keeps V008's key, so the accounts keyed before keep their keys.

create or replace function core.account_name_key(value text) returns text
language sql immutable parallel safe as $$
    select case
        when value ~ '[\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]'
            then nullif(btrim(regexp_replace(regexp_replace(
                core.identity_company_key(value),
                '(^|\s)(ооо|оао|зао|пао|ао|ип|тов|αε|επε|ικε|οε|εε|kk)(?=\s|$)', '\1', 'g'),
                '株式会社|有限会社|合同会社|有限公司|股份有限公司|주식회사', '', 'g')), '')
        else coalesce(core.normalize_company(value), core.identity_company_key(value))
    end
$$;
