-- A deal counts for its person's account when it names none (a customer is one account, whatever
-- deal names it), and a deal of a person deleted in every system counts nowhere.
create or replace function marts.opportunity_as_of(cutoff timestamptz, as_of date)
returns table (
    opportunity_id bigint, source text, person_id bigint, account_id bigint, owner_id text, segment text,
    stage_name text, amount numeric, probability numeric, created_at timestamptz, close_date date,
    is_closed boolean, is_won boolean
)
language sql stable parallel safe as $$
    select o.opportunity_id, o.source, o.person_id, coalesce(o.account_id, p.account_id), o.owner_id, o.segment,
        case when reopened then coalesce(h.stage_name, o.stage_name) else o.stage_name end,
        case when reopened then coalesce(h.amount, o.amount) else o.amount end,
        case when reopened then coalesce(h.probability, o.probability) else o.probability end,
        o.created_at, o.close_date,
        o.is_closed and not reopened,
        o.is_won and not reopened
    from core.opportunity as o
    left join core.person as p on o.person_id = p.person_id
    cross join lateral (select coalesce(o.is_closed and o.close_date > as_of, false) as reopened) as r
    left join lateral (
        select s.stage_name, s.amount, s.probability from core.opportunity_stage_history as s
        where r.reopened and s.opportunity_id = o.opportunity_id and s.entered_at < cutoff
        order by s.entered_at desc limit 1
    ) as h on true
    where (o.created_at < cutoff or o.created_at is null)
        and not coalesce(p.is_deleted, false)
$$;
