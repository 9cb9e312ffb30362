-- grain: one row per person who became an MQL
-- key: person_id
-- write: replace
-- The first sales activity (Salesforce task or event with that person) at or after the MQL, and
-- whether it came within the SLA (:sla_hours). No activity yet counts as outside the SLA. A person
-- who skipped MQL (sales converted them first) was never handed over, so has no response time.
-- With a calendar (lead_response_business_hours of config/kpis.yaml, :bh_on) the SLA counts only
-- its hours: its weekdays between start and end on its wall clock, holidays left out.
with mqls as (
    select person_id, mql_at
    from as_of_persons
    where mql_at is not null and not 'mql' = any(skipped_stages)
),

first_activity as (
    select m.person_id, m.mql_at, min(a.occurred_at) as first_activity_at
    from mqls as m
    inner join core.activity as a
        on m.person_id = a.person_id and a.occurred_at >= m.mql_at and a.occurred_at < :cutoff
    group by m.person_id, m.mql_at
),

local_times as (  -- on the calendar's wall clock
    select
        person_id,
        mql_at at time zone cast(:bh_timezone as text) as mql_local,
        first_activity_at at time zone cast(:bh_timezone as text) as response_local
    from first_activity
    where cast(:bh_on as boolean)
),

business_hours as (  -- per working day from the MQL's to the response's, the overlap with its hours
    select
        l.person_id,
        sum(extract(epoch from
            least(l.response_local, d.day + cast(:bh_end as interval))
            - greatest(l.mql_local, d.day + cast(:bh_start as interval))
        )) / 3600 as hours
    from local_times as l
    cross join lateral generate_series(
        date_trunc('day', l.mql_local), date_trunc('day', l.response_local), interval '1 day'
    ) as d (day)
    where extract(isodow from d.day) = any(cast(:bh_days as integer []))
        and cast(d.day as date) <> all(cast(:bh_holidays as date []))
        and least(l.response_local, d.day + cast(:bh_end as interval))
        > greatest(l.mql_local, d.day + cast(:bh_start as interval))
    group by l.person_id
),

final as (
    select
        m.person_id,
        m.mql_at,
        date_trunc('month', m.mql_at at time zone current_setting('TimeZone'))::date as mql_month,
        f.first_activity_at,
        round((extract(epoch from f.first_activity_at - m.mql_at) / 3600)::numeric, 2) as response_hours,
        case when cast(:bh_on as boolean) and f.first_activity_at is not null
                then round(coalesce(b.hours, 0)::numeric, 2)
        end as response_business_hours,
        case
            when f.first_activity_at is null then false
            when cast(:bh_on as boolean) then coalesce(b.hours, 0) <= cast(:sla_hours as integer)
            else f.first_activity_at - m.mql_at <= make_interval(hours => cast(:sla_hours as integer))
        end as is_within_sla
    from mqls as m
    left join first_activity as f on m.person_id = f.person_id
    left join business_hours as b on m.person_id = b.person_id
)

select * from final
