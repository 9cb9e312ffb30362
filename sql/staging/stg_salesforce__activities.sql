-- Grain: one row per Salesforce task or event (sales activities).
-- lookup: salesforce__tasks (payload ->> 'WhoId')
-- lookup: salesforce__tasks (payload ->> 'WhatId')
-- lookup: salesforce__events (payload ->> 'WhoId')
-- lookup: salesforce__events (payload ->> 'WhatId')
create or replace view staging.stg_salesforce__activities as
with tasks as (
    select * from staging.latest_salesforce__tasks
),

events as (
    select * from staging.latest_salesforce__events
),

unioned as (
    select
        'tasks' as entity, record_id, version_at, batch_id, payload, is_deleted,
        coalesce(payload ->> 'TaskSubtype', payload ->> 'Type', 'Task') as activity_type,
        meta.try_timestamptz(payload ->> 'CreatedDate') as occurred_at
    from tasks
    union all
    select
        'events', record_id, version_at, batch_id, payload, is_deleted, coalesce(payload ->> 'Type', 'Event'),
        coalesce(meta.try_timestamptz(payload ->> 'StartDateTime'), meta.try_timestamptz(payload ->> 'CreatedDate'))
    from events
),

final as (
    select
        entity,
        record_id as activity_id,
        activity_type,
        payload ->> 'Subject' as subject,
        payload ->> 'WhoId' as who_id,
        payload ->> 'WhatId' as what_id,
        payload ->> 'OwnerId' as owner_id,
        occurred_at,
        record_id,
        version_at,
        batch_id
    from unioned
    where not is_deleted and not coalesce(meta.try_boolean(payload ->> 'IsDeleted'), false)
)

select * from final
