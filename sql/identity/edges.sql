-- Match edges for the records that changed since the last run (temp table identity_changed),
-- against every record. identity.py adds identity.EDGE_UPSERT unless core.identity_edge is empty
-- (a first load), which takes a plain insert.
--
-- Deterministic rules score 1: the same mailbox (a shared one such as info@ also needs the same
-- name; one under two first names that cannot be one is left for review), a converted lead and its contact, a HubSpot merge, the Salesforce ids HubSpot's
-- Salesforce integration wrote on a contact, and a person's decision (meta.identity_decision).
--
-- The fuzzy rule weighs the evidence of a candidate pair and keeps it when the weight reaches
-- :min_score (config/identity.yaml). Weights, in bits (log2 of how much likelier the evidence is
-- for one human than for two):
--   name     exact 8, a nickname (Bob/Robert, Sepp/Josef) 7, first and last swapped 7, a typo
--            (first and last name each at most one typo apart, a first name not only in its last
--            letter, as Emil and Emily; the full names' trigram similarity >= :min_name_similarity) 6, an initial for the first name 5, the same last
--            name with another first name -4, otherwise -6; an exact name at most 3 records carry
--            +2, one more than 20 records carry -2 (how common a name is says how much it proves)
--   company  the same (name or work domain) 3, both known and different -3
--   phone    the same number 8, both known and different -3 (a number more than
--            :max_phone_records records carry is a switchboard, no evidence)
--   LinkedIn the same profile 10, both known and different -10
--   title    the same 1, different -1;  city the same 1, different -1
-- Two different personal work mailboxes at one domain are two people: never a fuzzy pair. A shared
-- mailbox (info@) says nothing about who wrote from it: its records are weighed without it.
--
-- Candidates come from blocks whose size does not grow with a company's headcount: the same
-- company (or work domain) with the same sound of the last name and the same first name or
-- nickname; the same with first and last name swapped (which also holds a first name misspelt
-- with the same sound); the same company, last-name sound and the letters of the first name, or
-- first name and the letters of the last name (two letters swapped); the same phone number (not
-- a switchboard's); the same
-- LinkedIn profile; and for a record without company or work domain, the same name anywhere
-- (a block of more than :max_name_block records is not compared: a name that common proves
-- nothing without a company).
insert into core.identity_edge (left_record, right_record, match_rule, match_score, evidence)
with records as not materialized (  -- a temp table already: read it, don't copy it
    select *, coalesce(company_key, work_domain) as org from identity_records
),

changed as (
    select r.* from records as r inner join identity_changed as c on r.record_key = c.record_key
),

email_exact as (
    -- one mailbox under two first names that cannot be one (Alice and Bob at smith.family@) is a
    -- shared mailbox: no match, a pair for review
    select
        c.record_key as a,
        r.record_key as b,
        case
            when c.first_name_key is null or r.first_name_key is null
                or split_part(c.first_name_key, ' ', 1) = split_part(r.first_name_key, ' ', 1)
                or c.first_name_key = any(r.first_name_forms) or r.first_name_key = any(c.first_name_forms)
                or core.identity_first_name_typo(c.first_name_key, r.first_name_key)
                or dmetaphone(c.first_name_key) = dmetaphone(r.first_name_key)
                or c.first_name_key = r.last_name_key
                or ((length(c.first_name_key) = 1 or length(r.first_name_key) = 1)
                    and left(c.first_name_key, 1) = left(r.first_name_key, 1))
                then 'email_exact'
            else 'email_other_name'
        end as rule,
        1.0 as score,
        null::jsonb as evidence
    from changed as c
    inner join records as r on c.email_key = r.email_key and c.record_key <> r.record_key
    where c.email_key is not null and not c.is_generic_mailbox
    union all
    select c.record_key, r.record_key, 'email_generic_same_name', 0.95, null
    from changed as c
    inner join records as r
        on c.email_key = r.email_key and c.full_name = r.full_name and c.record_key <> r.record_key
    where c.is_generic_mailbox
),

source_links as (
    select r.record_key as a, r.linked_record as b, 'crm_conversion' as rule, 1.0 as score, null::jsonb as evidence
    from records as r
    where r.linked_record is not null
        and (r.record_key in (select record_key from changed) or r.linked_record in (select record_key from changed))
        and r.linked_record in (select record_key from records)
    union all
    select r.record_key, m.merged, 'source_merge', 1.0, null
    from records as r
    cross join lateral unnest(r.merged_records) as m (merged)
    where (r.record_key in (select record_key from changed) or m.merged in (select record_key from changed))
        and m.merged in (select record_key from records)
    union all
    select r.record_key, s.synced, 'crm_sync', 1.0, null
    from records as r
    cross join lateral unnest(r.synced_records) as s (synced)
    where (r.record_key in (select record_key from changed) or s.synced in (select record_key from changed))
        and s.synced in (select record_key from records)
    union all
    select d.left_record, d.right_record, 'review_same', 1.0,
        jsonb_build_object('decided_by', d.decided_by, 'decided_at', d.decided_at)
    from meta.identity_decision as d
    where d.decision = 'same'
        and (d.left_record in (select record_key from changed) or d.right_record in (select record_key from changed))
        and d.left_record in (select record_key from records) and d.right_record in (select record_key from records)
),

block_keys as (
    select r.record_key, 'n|' || r.org || '|' || dmetaphone(r.last_name_key) || '|' || f.form as block,
        false as without_org
    from records as r cross join lateral unnest(r.first_name_forms) as f (form)
    where r.org is not null and r.last_name_key is not null
    union all
    select record_key, 'n|' || org || '|' || dmetaphone(first_name_key) || '|' || last_name_key, false
    from records where org is not null and first_name_key is not null and last_name_key is not null
    union all
    select
        record_key,
        'f|' || org || '|' || dmetaphone(last_name_key) || '|'
        || array_to_string(array(select unnest(string_to_array(first_name_key, null)) order by 1), ''),
        false
    from records where org is not null and first_name_key is not null and last_name_key is not null
    union all
    select
        record_key,
        'l|' || org || '|' || first_name_key || '|'
        || array_to_string(array(select unnest(string_to_array(last_name_key, null)) order by 1), ''),
        false
    from records where org is not null and first_name_key is not null and last_name_key is not null
    union all
    select record_key, 'p|' || phone_key, false from records where phone_key is not null
    union all
    select record_key, 'i|' || linkedin_key, false from records where linkedin_key is not null
    union all
    select r.record_key, 'g|' || dmetaphone(r.last_name_key) || '|' || f.form, r.org is null
    from records as r cross join lateral unnest(r.first_name_forms) as f (form)
    where r.last_name_key is not null
),

-- a block is joined by a 64-bit hash of its key, which sorts and compares faster than the key. Two
-- keys sharing a hash (odds of about 1 in 40,000 at ten million records) make one block: a
-- candidate more, which its evidence weighs, or a name block counted larger.
blocks as (  -- a key a record gives twice gives a pair twice, which candidates makes one
    select record_key, left(block, 1) as kind, hashtextextended(block, 0) as block, without_org
    from block_keys
),

-- the blocks of a changed record that may be too large to say anything, with their sizes: the
-- name anywhere (for a pair of which one record has no company) and the phone (a switchboard)
capped_blocks as (
    select b.kind, b.block, count(distinct b.record_key) as records
    from blocks as b
    where b.block in (
        select cb.block from changed as c inner join blocks as cb on c.record_key = cb.record_key
        where cb.kind in ('g', 'p')
    )
    group by b.kind, b.block
),

candidates as (
    -- each kind of block joined apart: a name block anywhere pairs a changed record without a
    -- company with any record of it, and one with a company only with those without, so the pairs
    -- of two records with a company, most of a common name's block, are never formed (17 million
    -- of them at SCALE=1, joined and then filtered out, made a third of this statement)
    select distinct a, b from (
        select cb.record_key as a, rb.record_key as b
        from blocks as cb
        inner join blocks as rb on cb.block = rb.block and cb.record_key <> rb.record_key
        where cb.kind not in ('g', 'p') and cb.record_key in (select record_key from changed)
        union all
        select cb.record_key, rb.record_key
        from changed as c
        inner join blocks as cb on c.record_key = cb.record_key
        inner join blocks as rb on cb.block = rb.block and cb.record_key <> rb.record_key
        where cb.kind = 'g' and c.org is null and cb.block in (
            select block from capped_blocks where kind = 'g' and records <= cast(:max_name_block as integer)
        )
        union all
        select cb.record_key, rb.record_key
        from blocks as cb
        inner join blocks as rb on cb.block = rb.block and cb.record_key <> rb.record_key
        where cb.kind = 'g' and rb.without_org and cb.record_key in (select record_key from changed) and cb.block in (
            select block from capped_blocks where kind = 'g' and records <= cast(:max_name_block as integer)
        )
        union all
        select cb.record_key, rb.record_key
        from blocks as cb
        inner join blocks as rb on cb.block = rb.block and cb.record_key <> rb.record_key
        where cb.kind = 'p' and cb.record_key in (select record_key from changed) and cb.block in (
            select block from capped_blocks where kind = 'p' and records <= cast(:max_phone_records as integer)
        )
    ) as pairs
    where cast(:fuzzy_enabled as boolean)
),

-- how many records carry each full name of a changed record
name_counts as (
    select full_name, count(*) as records
    from records
    where full_name in (select full_name from changed)
    group by full_name
),

-- how many records carry each phone number
phone_counts as (
    select phone_key, count(*) as records
    from records
    where phone_key is not null
    group by phone_key
),

compared as (
    select
        p.a,
        p.b,
        case
            when c.first_name_key = r.first_name_key and c.last_name_key = r.last_name_key then 'exact'
            when c.last_name_key = r.last_name_key
                and (c.first_name_key = any(r.first_name_forms) or r.first_name_key = any(c.first_name_forms))
                then 'nickname'
            when c.first_name_key = r.last_name_key and c.last_name_key = r.first_name_key then 'swapped'
            when core.identity_first_name_typo(c.first_name_key, r.first_name_key)
                and core.identity_typo_apart(c.last_name_key, r.last_name_key)
                and similarity(c.full_name, r.full_name) >= cast(:min_name_similarity as real) then 'typo'
            when c.last_name_key = r.last_name_key
                and (length(c.first_name_key) = 1 or length(r.first_name_key) = 1)
                and left(c.first_name_key, 1) = left(r.first_name_key, 1) then 'initial'
            when c.last_name_key = r.last_name_key then 'other_first_name'
            else 'different'
        end as name,
        case
            when c.company_key = r.company_key or c.work_domain = r.work_domain then 'same'
            when c.org is not null and r.org is not null then 'different'
        end as company,
        case
            -- a number more records carry is a switchboard: it says nothing about who
            when cp.records > cast(:max_phone_records as integer)
                or rp.records > cast(:max_phone_records as integer) then null
            when c.phone_key = r.phone_key then 'same'
            when c.phone_key <> r.phone_key then 'different'
        end as phone,
        case
            when c.linkedin_key = r.linkedin_key then 'same' when c.linkedin_key <> r.linkedin_key then 'different'
        end as linkedin,
        case when c.full_name = r.full_name then nc.records end as name_records,
        case when c.title_key = r.title_key then 'same' when c.title_key <> r.title_key then 'different' end as title,
        case when c.city_key = r.city_key then 'same' when c.city_key <> r.city_key then 'different' end as city
    from candidates as p
    inner join records as c on p.a = c.record_key
    inner join records as r on p.b = r.record_key
    left join name_counts as nc on c.full_name = nc.full_name
    left join phone_counts as cp on c.phone_key = cp.phone_key
    left join phone_counts as rp on r.phone_key = rp.phone_key
    where c.full_name is not null and r.full_name is not null
        -- two different personal work mailboxes at one domain are two people (both known: a domain
        -- compared with none is null, which would drop the pair from one side only)
        and not (c.work_domain is not null and r.work_domain is not null and c.work_domain = r.work_domain
            and c.email_key <> r.email_key and not c.is_generic_mailbox and not r.is_generic_mailbox)
),

weighed as (
    select
        a,
        b,
        case name
            when 'exact' then 8 when 'nickname' then 7 when 'swapped' then 7 when 'typo' then 6
            when 'initial' then 5 when 'other_first_name' then -4 else -6
        end
        + case when name_records <= 3 then 2 when name_records > 20 then -2 else 0 end
        + case company when 'same' then 3 when 'different' then -3 else 0 end
        + case phone when 'same' then 8 when 'different' then -3 else 0 end
        + case linkedin when 'same' then 10 when 'different' then -10 else 0 end
        + case title when 'same' then 1 when 'different' then -1 else 0 end
        + case city when 'same' then 1 when 'different' then -1 else 0 end as weight,
        jsonb_strip_nulls(jsonb_build_object(
            'name', name, 'name_records', name_records, 'company', company, 'phone', phone,
            'linkedin', linkedin, 'title', title, 'city', city
        )) as evidence
    from compared
),

fuzzy as (
    select a, b, 'fuzzy' as rule, weight as score, evidence
    from weighed
    where weight >= cast(:min_score as integer)
),

unioned as (
    select * from email_exact
    union all select * from source_links
    union all select * from fuzzy
),

final as (
    select distinct on (least(a, b), greatest(a, b), rule)
        least(a, b) as left_record, greatest(a, b) as right_record, rule as match_rule, score as match_score,
        evidence
    from unioned
    order by least(a, b), greatest(a, b), rule, score desc
)

select * from final
