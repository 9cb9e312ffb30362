-- grain: one row per person, channel, subscription and source
-- key: person_id, channel, subscription, source
-- write: scoped
-- scope: person_id in (select person_id from merge_persons)
-- The latest consent state each system holds (HubSpot subscription statuses with legal basis; the
-- HubSpot and Salesforce email opt-out flags). Rebuilt for the persons in scope; suppression reads
-- it.
with hubspot_statuses as (
    select i.person_id, s.subscription_name as subscription, 'hubspot' as source, s.status, s.legal_basis,
        s.changed_at
    from staging.stg_hubspot__subscription_statuses as s
    inner join core.person_identity as i
        on i.source = 'hubspot' and i.entity = 'contacts' and s.contact_id = i.source_record_id and i.is_active
    where i.person_id in (select person_id from merge_persons)
),

opt_outs as (
    select r.person_id, 'all' as subscription, r.source,
        case when r.has_email_opt_out then 'OPTED_OUT' else 'NOT_OPTED_OUT' end as status,
        null::text as legal_basis, r.created_at as changed_at
    from person_records as r  -- the records of the persons in scope (person_records.sql)
    where r.source in ('hubspot', 'salesforce')
),

unioned as (
    select * from hubspot_statuses
    union all
    select * from opt_outs
),

final as (
    select distinct on (person_id, subscription, source)
        person_id, 'email' as channel, subscription, source, status, legal_basis, changed_at
    from unioned
    order by person_id, subscription, source, (status in ('NOT_SUBSCRIBED', 'OPTED_OUT')) desc, changed_at desc
)

select * from final
