-- Found by a README-only trial of V053 to V055:
-- - an xn-- label that decodes to ASCII only (xn--example-) is no internationalised label but
--   another name, and one that decodes to a control character (xn--a) no name at all: both are
--   kept as written, as an invalid label already was (bob@xn--example-.com was bob@example.com);
-- - an opt-out on a record whose email field separates its addresses by /, |, \, +, brackets or
--   the full-width comma (，、；) reached none of them: each address is found whatever separates them;
-- - accounts: the short legal forms of Korea and Japan ((주), ㈜, (株), ㈱, (有), (유), (同)) and
--   the Latin letters that look like Cyrillic or Greek ones (OOO, A.E.) are legal forms too.

alter function core.punycode_label(text) rename to punycode_decode;

create function core.punycode_label(label text) returns text
language sql immutable parallel safe as $$
    select case
        when decoded is distinct from label and octet_length(decoded) > char_length(decoded)
            and decoded !~ '[\u0001-\u001f\u007f-\u009f]' then decoded
        else label
    end
    from (select core.punycode_decode(label) as decoded) as d
$$;

create or replace function core.mailbox_keys(field text) returns setof text
language sql immutable parallel safe as $$
    select core.mailbox_key(field) where core.mailbox_key(field) is not null
    union
    select core.mailbox_key(address[1])
    from regexp_matches(field,
        '[^]@\s,;<>"''()/|\\[+，、；][^]@\s,;<>"''()/|\\[，、；]*@[^]@\s,;<>"''()/|\\[+，、；]+', 'g') as address
    where length(field) - length(replace(field, '@', '')) > 1
$$;

create or replace function core.account_name_key(value text) returns text
language sql immutable parallel safe as $$
    select case
        when value ~ '[\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]'
            then nullif(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
                core.identity_company_key(value),
                '(?<=^|\s)(\S)\s(?=\S(\s|$))', '\1', 'g'),  -- one-letter words in a row joined: α ε -> αε
                '(^|\s)(ооо|оао|зао|пао|ао|ип|тов|αε|επε|ικε|οε|εε|kk|ooo|oao|zao|pao|ao|ae|epe|ike|oe|ee|株|有|同|'
                    || normalize('주', nfkd) || '|' || normalize('유', nfkd) || ')(?=\s|$)', '\1', 'g'),
                '株式会社|有限会社|合同会社|有限公司|股份有限公司|' || normalize('주식회사', nfkd), '', 'g'),
                '\s+', ' ', 'g')), '')
        else coalesce(core.normalize_company(value), core.identity_company_key(value))
    end
$$;

-- Accounts that are one under the current key are made one (as V054 did once): the oldest keeps
-- its id and the key; the others' records, persons, deals and touchpoints move to it. A migration
-- that changes core.account_name_key calls it.
create function core.merge_accounts_under_current_keys() returns void
language plpgsql as $$
begin
    create temporary table accounts_made_one on commit drop as
    with keyed as (
        select account_id, match_key,
            case when match_key like 'name:%' and core.account_name_key(name) is not null
                then 'name:' || core.account_name_key(name) else match_key end as new_key
        from core.account
    ),

    merged as (
        select new_key from keyed group by new_key having count(*) > 1 or bool_or(match_key <> new_key)
    )

    select keyed.account_id, keyed.new_key, min(keyed.account_id) over (partition by keyed.new_key) as kept_id
    from keyed inner join merged using (new_key);

    update core.account_identity as t set account_id = m.kept_id
    from accounts_made_one as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
    update core.person as t set account_id = m.kept_id
    from accounts_made_one as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
    update core.opportunity as t set account_id = m.kept_id
    from accounts_made_one as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
    update core.touchpoint as t set account_id = m.kept_id
    from accounts_made_one as m where t.account_id = m.account_id and m.account_id <> m.kept_id;
    delete from core.account as a
    using accounts_made_one as m where a.account_id = m.account_id and m.account_id <> m.kept_id;
    update core.account as a set match_key = m.new_key
    from accounts_made_one as m where a.account_id = m.kept_id and m.account_id = m.kept_id and a.match_key <> m.new_key;
    drop table accounts_made_one;
end;
$$;

select core.merge_accounts_under_current_keys();

-- Every stored key follows the rule at once (as V053); the person's address index is rebuilt, and
-- identity's rules version 9 makes the first merge after this a full refresh.
update core.email_event set email_key = core.mailbox_key(email)
where email ilike '%xn--%' and email_key is distinct from core.mailbox_key(email);
update core.mailbox_consent set mailbox_key = core.mailbox_key(email)
where email ilike '%xn--%' and mailbox_key is distinct from core.mailbox_key(email);
update nurture.manual_suppression set email = email where email ilike '%xn--%';
update nurture.list_members set mailbox_key = core.mailbox_key(email)
where email ilike '%xn--%' and mailbox_key is distinct from core.mailbox_key(email);
reindex index core.person_mailbox_key_idx;
