-- grain: one row per sales activity (Salesforce task or event)
-- key: source, source_record_id
-- write: upsert
-- Linked to the person it was with (WhoId: a lead or contact) and the opportunity it was about
-- (WhatId). In scope: changed activities, and those whose person or opportunity is in scope.
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
    select source_record_id from core.activity where person_id in (select person_id from merge_persons)
)
    or a.who_id in (select record_id from identity_affected where source = 'salesforce')
    or a.what_id in (select source_record_id from merge_opportunities where source = 'salesforce')
