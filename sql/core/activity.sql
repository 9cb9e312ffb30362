-- grain: one row per sales activity (Salesforce task or event, file-drop activity)
-- key: source, source_record_id
-- write: upsert
-- Linked to the person it was with (Salesforce WhoId, a file drop's contact or lead) and the
-- opportunity it was about (WhatId, a file drop's deal). In scope: changed activities, and those
-- whose person or opportunity is in scope, each looked up in its indexed scope table (exists: a
-- list joined by "or" is hashed only while it fits work_mem, else read again for every row).
with salesforce as (
    select
        'salesforce' as source,
        a.activity_id as source_record_id,
        a.activity_type,
        a.subject,
        i.person_id,
        o.opportunity_id,
        a.owner_id,
        a.occurred_at
    from staging.stg_salesforce__activities as a
    left join core.person_identity as i
        on i.source = 'salesforce' and i.entity in ('leads', 'contacts') and a.who_id = i.source_record_id
            and i.is_active
    left join core.opportunity as o on o.source = 'salesforce' and a.what_id = o.source_record_id
    where (exists (select 1 from merge_changes as c where c.source = 'salesforce' and c.entity in ('tasks', 'events')
                  and c.record_id = a.activity_id)
        or exists (select 1 from core.activity as x where x.source = 'salesforce' and x.source_record_id = a.activity_id
                   and x.person_id in (select person_id from merge_persons))
        or exists (select 1 from identity_affected as f where f.source = 'salesforce'
                   and f.entity in ('leads', 'contacts') and f.record_id = a.who_id)
        or exists (select 1 from merge_opportunities as m where m.source = 'salesforce' and m.source_record_id = a.what_id))
        -- unless every record is in scope, the same scope as the ids and references each arm of the
        -- view looks up in its indexes (the view's lookup lines), not a filter over every activity
        and (cast(:whole as boolean)
            or a.activity_id = any(array(
                select record_id from merge_changes where source = 'salesforce' and entity in ('tasks', 'events')
                union all
                select source_record_id from core.activity
                where source = 'salesforce' and person_id in (select person_id from merge_persons)))
            or a.who_id = any(array(
                select record_id from identity_affected where source = 'salesforce' and entity in ('leads', 'contacts')))
            or a.what_id = any(array(select source_record_id from merge_opportunities where source = 'salesforce')))
),

file_activities as (
    select
        'file' as source,
        a.record_id as source_record_id,
        a.type as activity_type,
        a.subject,
        i.person_id,
        o.opportunity_id,
        a.owner_id,
        a.occurred_at
    from staging.stg_file__activities as a
    left join core.person_identity as i
        on i.source = 'file' and i.is_active and i.entity = a.person_entity and i.source_record_id = a.person_record_id
    left join core.opportunity as o on o.source = 'file' and a.deal_id = o.source_record_id
    where not a.is_deleted and (
        exists (select 1 from merge_changes as c where c.source = 'file' and c.entity = 'activities'
                and c.record_id = a.record_id)
        or exists (select 1 from core.activity as x where x.source = 'file' and x.source_record_id = a.record_id
                   and x.person_id in (select person_id from merge_persons))
        or exists (select 1 from identity_affected as f where f.source = 'file' and f.entity in ('leads', 'contacts')
                   and f.record_id = a.person_record_id)
        or exists (select 1 from merge_opportunities as m where m.source = 'file' and m.source_record_id = a.deal_id)
    )
)

select * from salesforce
union all
select * from file_activities
