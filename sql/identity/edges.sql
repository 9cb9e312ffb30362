-- Match edges for the records that changed since the last run (temp table identity_changed),
-- against every record. Deterministic rules score 1; the fuzzy rule compares full names within a
-- block (same company or same work domain, and same sound of first or last name) and never joins
-- two different work mailboxes of one domain.
insert into core.identity_edge (left_record, right_record, match_rule, match_score)
with records as not materialized (  -- a temp table already: read it, don't copy it
    select * from identity_records
),

changed as (
    select r.* from records as r inner join identity_changed as c on r.record_key = c.record_key
),

email_exact as (
    select c.record_key as a, r.record_key as b, 'email_exact' as rule, 1.0 as score
    from changed as c
    inner join records as r on c.email_key = r.email_key and c.record_key <> r.record_key
    where c.email_key is not null and not c.is_generic_mailbox
    union all
    select c.record_key, r.record_key, 'email_generic_same_name', 0.95
    from changed as c
    inner join records as r
        on c.email_key = r.email_key and c.full_name = r.full_name and c.record_key <> r.record_key
    where c.is_generic_mailbox
),

source_links as (
    select r.record_key as a, r.linked_record as b, 'crm_conversion' as rule, 1.0 as score
    from records as r
    where r.linked_record is not null
        and (r.record_key in (select record_key from changed) or r.linked_record in (select record_key from changed))
        and r.linked_record in (select record_key from records)
    union all
    select r.record_key, m.merged, 'source_merge', 1.0
    from records as r
    cross join lateral unnest(r.merged_records) as m (merged)
    where (r.record_key in (select record_key from changed) or m.merged in (select record_key from changed))
        and m.merged in (select record_key from records)
),

blocks as (
    select record_key, coalesce(company_key, work_domain) || '|' || dmetaphone(coalesce(last_name_key, '')) as block
    from records where coalesce(company_key, work_domain) is not null
    union
    select record_key, coalesce(company_key, work_domain) || '|' || dmetaphone(coalesce(first_name_key, ''))
    from records where coalesce(company_key, work_domain) is not null
    union
    select record_key, work_domain || '|' || dmetaphone(coalesce(last_name_key, ''))
    from records where work_domain is not null and company_key is not null
),

fuzzy as (
    select distinct on (c.record_key, r.record_key)
        c.record_key as a, r.record_key as b, 'fuzzy_name_company' as rule,
        round(similarity(c.full_name, r.full_name)::numeric, 3) as score
    from changed as c
    inner join blocks as cb on c.record_key = cb.record_key
    inner join blocks as rb on cb.block = rb.block and cb.record_key <> rb.record_key
    inner join records as r on rb.record_key = r.record_key
    where cast(:fuzzy_enabled as boolean)
        and c.full_name is not null and r.full_name is not null
        and similarity(c.full_name, r.full_name) >= cast(:min_name_similarity as real)
        -- two different work mailboxes at one domain are two people
        and not (c.work_domain is not null and c.work_domain = r.work_domain and c.email_key <> r.email_key)
        -- a shared mailbox says nothing about who wrote from it
        and not c.is_generic_mailbox and not r.is_generic_mailbox
),

unioned as (
    select * from email_exact
    union all select * from source_links
    union all select * from fuzzy
),

final as (
    select least(a, b) as left_record, greatest(a, b) as right_record, rule as match_rule, max(score) as match_score
    from unioned
    group by 1, 2, 3
)

select * from final
on conflict (left_record, right_record, match_rule) do update set match_score = excluded.match_score
