-- The close date a deal was expected on, as each change of its history knew it (Salesforce
-- OpportunityHistory, HubSpot's closedate history, file-drop deal stages), so a snapshot taken from the
-- history and a deal read as of a past date use the close date known then, not today's. Rows merged
-- before this keep none (today's close date stands in) until their deal changes or a full refresh
-- (smarketing run --full-refresh).
alter table core.opportunity_stage_history add column close_date date;

-- A deal as it stood at the cutoff: one closed after the as-of date was still open then, and one
-- whose history changed after the cutoff (a stage, amount, probability or close date moved later)
-- is read from the last change before it. Deals created later do not exist yet; a deal names its
-- person's account when it names none; deals of persons deleted in every system count nowhere.
create or replace function marts.opportunity_as_of(cutoff timestamptz, as_of date)
returns table (
    opportunity_id bigint, source text, person_id bigint, account_id bigint, owner_id text, segment text,
    stage_name text, amount numeric, probability numeric, created_at timestamptz, close_date date,
    is_closed boolean, is_won boolean
)
language sql stable parallel safe as $$
    select o.opportunity_id, o.source, o.person_id, coalesce(o.account_id, p.account_id), o.owner_id, o.segment,
        case when r.then_known then coalesce(h.stage_name, o.stage_name) else o.stage_name end,
        case when r.then_known then coalesce(h.amount, o.amount) else o.amount end,
        case when r.then_known then coalesce(h.probability, o.probability) else o.probability end,
        o.created_at,
        case when r.then_known then coalesce(h.close_date, o.close_date) else o.close_date end,
        case when r.reopened then false
             when r.then_known and h.stage_name is not null then h.stage_name in ('Closed Won', 'Closed Lost')
             else o.is_closed end,
        case when r.reopened then false
             when r.then_known and h.stage_name is not null then h.stage_name = 'Closed Won'
             else o.is_won end
    from core.opportunity as o
    left join core.person as p on o.person_id = p.person_id
    cross join lateral (
        select coalesce(o.is_closed and o.close_date > as_of, false) as reopened
    ) as c
    cross join lateral (
        select c.reopened,
            c.reopened or exists (
                select from core.opportunity_stage_history as s
                where s.opportunity_id = o.opportunity_id and s.entered_at >= cutoff
            ) as then_known
    ) as r
    left join lateral (
        select s.stage_name, s.amount, s.probability, s.close_date from core.opportunity_stage_history as s
        where r.then_known and s.opportunity_id = o.opportunity_id and s.entered_at < cutoff
        order by s.entered_at desc limit 1
    ) as h on true
    where (o.created_at < cutoff or o.created_at is null)
        and not coalesce(p.is_deleted, false)
$$;
