-- The world as it was known at the marts' cutoff: the start of the day after the as-of date in the
-- reporting time zone, a timestamp the caller computes once (so no session setting can move it).
-- Every mart reads persons and deals through these two, so none counts what happened later.

-- A person's stage dates up to the cutoff (later ones are unknown yet); persons first seen after
-- it do not exist yet. A person without any stage date is kept (nothing dates them).
create function marts.person_as_of(cutoff timestamptz)
returns table (
    person_id bigint, source_channel text, owner_id text, account_id bigint,
    lead_created_at timestamptz, mql_at timestamptz, sql_at timestamptz, customer_at timestamptz
)
language sql stable parallel safe as $$
    select p.person_id, p.source_channel, p.owner_id, p.account_id,
        case when p.lead_created_at < cutoff then p.lead_created_at end,
        case when p.mql_at < cutoff then p.mql_at end,
        case when p.sql_at < cutoff then p.sql_at end,
        case when p.customer_at < cutoff then p.customer_at end
    from core.active_person as p
    where least(p.lead_created_at, p.mql_at, p.sql_at, p.customer_at) < cutoff
        or coalesce(p.lead_created_at, p.mql_at, p.sql_at, p.customer_at) is null
$$;

-- Deals created by the cutoff; one closed after the as-of date was still open then, in the stage,
-- amount and probability its stage history held at the cutoff.
create function marts.opportunity_as_of(cutoff timestamptz, as_of date)
returns table (
    opportunity_id bigint, source text, person_id bigint, account_id bigint, owner_id text, segment text,
    stage_name text, amount numeric, probability numeric, created_at timestamptz, close_date date,
    is_closed boolean, is_won boolean
)
language sql stable parallel safe as $$
    select o.opportunity_id, o.source, o.person_id, o.account_id, o.owner_id, o.segment,
        case when reopened then coalesce(h.stage_name, o.stage_name) else o.stage_name end,
        case when reopened then coalesce(h.amount, o.amount) else o.amount end,
        case when reopened then coalesce(h.probability, o.probability) else o.probability end,
        o.created_at, o.close_date,
        o.is_closed and not reopened,
        o.is_won and not reopened
    from core.opportunity as o
    cross join lateral (select coalesce(o.is_closed and o.close_date > as_of, false) as reopened) as r
    left join lateral (
        select s.stage_name, s.amount, s.probability from core.opportunity_stage_history as s
        where r.reopened and s.opportunity_id = o.opportunity_id and s.entered_at < cutoff
        order by s.entered_at desc limit 1
    ) as h on true
    where o.created_at < cutoff or o.created_at is null
$$;
