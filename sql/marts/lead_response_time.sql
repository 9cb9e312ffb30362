-- grain: one row per person who became an MQL
-- key: person_id
-- write: replace
-- The first sales activity (Salesforce task or event with that person) at or after the MQL, and
-- whether it came within the SLA (:sla_hours). No activity yet counts as outside the SLA. A person
-- who skipped MQL (sales converted them first) was never handed over, so has no response time.
with mqls as (
    select person_id, mql_at
    from marts.person_as_of(:cutoff)
    where mql_at is not null and not 'mql' = any(skipped_stages)
),

first_activity as (
    select m.person_id, min(a.occurred_at) as first_activity_at
    from mqls as m
    inner join core.activity as a
        on m.person_id = a.person_id and a.occurred_at >= m.mql_at and a.occurred_at < :cutoff
    group by m.person_id
),

final as (
    select
        m.person_id,
        m.mql_at,
        date_trunc('month', m.mql_at at time zone current_setting('TimeZone'))::date as mql_month,
        f.first_activity_at,
        round((extract(epoch from f.first_activity_at - m.mql_at) / 3600)::numeric, 2) as response_hours,
        coalesce(f.first_activity_at - m.mql_at <= make_interval(hours => cast(:sla_hours as integer)), false)
            as is_within_sla
    from mqls as m
    left join first_activity as f on m.person_id = f.person_id
)

select * from final
