-- A deal as it stood at the cutoff, for the marts and for pipeline snapshots taken from history:
-- - closed by the as-of date (by its close date, even when the CRM recorded the close later): as it
--   is, closed, a backdated close included;
-- - still open at the cutoff (open now, or closed after the as-of date), and changed since: as its
--   last change before the cutoff left it, stage, amount, probability and close date. Nothing of
--   its later life stands in: without a change before the cutoff its stage and probability are
--   unknown (empty: weighted 0, and said in the refresh's log), not the Closed Won and 100 % it
--   has now; a change that names no probability leaves the stage's;
-- - otherwise as it is, its probability the CRM's, else its current history's (a file drop's stage
--   row may carry one the deal row does not);
-- - created after the cutoff: absent. A deal names its person's account when it names none;
--   deals of persons deleted in every system count nowhere.
create or replace function marts.opportunity_as_of(cutoff timestamptz, as_of date)
returns table (
    opportunity_id bigint, source text, person_id bigint, account_id bigint, owner_id text, segment text,
    stage_name text, amount numeric, probability numeric, created_at timestamptz, close_date date,
    is_closed boolean, is_won boolean
)
language sql stable parallel safe as $$
    select o.opportunity_id, o.source, o.person_id, coalesce(o.account_id, p.account_id), o.owner_id, o.segment,
        case when r.then_known then h.stage_name else o.stage_name end,
        case when r.then_known then coalesce(h.amount, o.amount) else o.amount end,
        case when r.then_known then h.probability else coalesce(o.probability, h.probability) end,
        o.created_at,
        case when r.then_known then coalesce(h.close_date, o.close_date) else o.close_date end,
        case when r.then_known then not r.reopened and coalesce(h.stage_name in ('Closed Won', 'Closed Lost'), false)
             else o.is_closed end,
        case when r.then_known then not r.reopened and coalesce(h.stage_name = 'Closed Won', false)
             else o.is_won end
    from core.opportunity as o
    left join core.person as p on o.person_id = p.person_id
    cross join lateral (
        select coalesce(o.is_closed and o.close_date > as_of, false) as reopened,
            coalesce(o.is_closed and o.close_date <= as_of, false) as closed_then
    ) as c
    cross join lateral (
        select c.reopened,
            c.reopened or (not c.closed_then and exists (
                select from core.opportunity_stage_history as s
                where s.opportunity_id = o.opportunity_id and s.entered_at >= cutoff
            )) as then_known
    ) as r
    left join lateral (
        select s.stage_name, s.amount, s.probability, s.close_date from core.opportunity_stage_history as s
        where s.opportunity_id = o.opportunity_id and s.entered_at < cutoff
        order by s.entered_at desc limit 1
    ) as h on true
    where (o.created_at < cutoff or o.created_at is null)
        and not coalesce(p.is_deleted, false)
$$;

-- a snapshot taken from the history of a deal that closed later may know no stage for the day
alter table core.opportunity_daily alter column stage_name drop not null;
