-- A person who skipped a stage passed through it at the later stage's time: an SQL never marked MQL
-- is an MQL at the SQL, a person with a deal but no SQL an SQL (and MQL) at the first deal's
-- creation, a customer without either at the first deal or the win; a person without a lead date
-- a lead at the first stage known. skipped_stages names the stages passed through that way, so
-- every mart can say so (and lead response leave out MQLs sales never got handed).
drop function marts.person_as_of(timestamptz);

create function marts.person_as_of(cutoff timestamptz)
returns table (
    person_id bigint, source_channel text, owner_id text, account_id bigint,
    lead_created_at timestamptz, mql_at timestamptz, sql_at timestamptz, customer_at timestamptz,
    skipped_stages text[]
)
language sql stable parallel safe as $$
    with known as (
        select p.person_id, p.source_channel, p.owner_id, p.account_id,
            case when p.lead_created_at < cutoff then p.lead_created_at end as lead_at,
            case when p.mql_at < cutoff then p.mql_at end as mql_at,
            case when p.sql_at < cutoff then p.sql_at end as sql_at,
            o.first_opportunity_at,
            case when p.customer_at < cutoff then p.customer_at end as customer_at,
            coalesce(p.lead_created_at, p.mql_at, p.sql_at, p.customer_at) is null as undated
        from core.active_person as p
        left join (
            select o.person_id, min(o.created_at) as first_opportunity_at from core.opportunity as o
            where o.created_at < cutoff and o.person_id is not null group by o.person_id
        ) as o on p.person_id = o.person_id
    ),

    passed as (
        select k.*,
            coalesce(k.sql_at, k.first_opportunity_at, k.customer_at) as sql_through,
            coalesce(k.mql_at, k.sql_at, k.first_opportunity_at, k.customer_at) as mql_through
        from known as k
    )

    select person_id, source_channel, owner_id, account_id,
        coalesce(lead_at, mql_through), mql_through, sql_through, customer_at,
        array_remove(array[
            case when lead_at is null and mql_through is not null then 'lead' end,
            case when mql_at is null and mql_through is not null then 'mql' end,
            case when sql_at is null and sql_through is not null then 'sql' end
        ], null)
    from passed
    where mql_through is not null or lead_at is not null or undated
$$;
