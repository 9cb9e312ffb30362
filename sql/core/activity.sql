-- grain: one row per sales activity (Salesforce task or event, file-drop activity)
-- key: source, source_record_id
-- write: upsert
-- Linked to the person it was with (Salesforce WhoId, a file drop's contact or lead) and the
-- opportunity it was about (WhatId, a file drop's deal). In scope: changed activities, and those
-- whose person or opportunity is in scope.
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
    where a.activity_id in (
        select record_id from merge_changes where source = 'salesforce' and entity in ('tasks', 'events')
        union all
        select source_record_id from core.activity
        where source = 'salesforce' and person_id in (select person_id from merge_persons)
    )
        or a.who_id in (select record_id from identity_affected where source = 'salesforce')
        or a.what_id in (select source_record_id from merge_opportunities where source = 'salesforce')
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
        a.record_id in (
            select record_id from merge_changes where source = 'file' and entity = 'activities'
            union all
            select source_record_id from core.activity
            where source = 'file' and person_id in (select person_id from merge_persons)
        )
        or a.person_record_id in (select record_id from identity_affected where source = 'file')
        or a.deal_id in (select source_record_id from merge_opportunities where source = 'file')
    )
)

select * from salesforce
union all
select * from file_activities
