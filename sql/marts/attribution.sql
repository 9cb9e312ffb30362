-- grain: one row per opportunity per campaign whose touches reached the opportunity's person in the
--     :lookback_days before the opportunity was created, and per channel of the touches without a
--     campaign (form submissions, emails without one)
-- key: opportunity_id, credit_key
-- write: replace
-- Credit per model sums to 1 per opportunity: first touch, last touch, linear (equal per touch),
-- and W-shaped: 30 % each to the first touch, the lead-creation touch (the last at or before the
-- lead was created, else the first) and the opportunity-creation touch (the last before the
-- opportunity); the other 10 % spread over the touches between them, or over those three
-- positions when there is none between. Every touch counts, so the credit always sums to the
-- whole opportunity; a touch without a campaign is credited to its channel ('channel:web').
with touches as (
    select
        o.opportunity_id, o.amount, o.is_won, t.campaign_id, t.occurred_at, t.source_record_id, t.touch_type,
        p.lead_created_at,
        coalesce(case when t.campaign_id is null then t.channel else cp.channel end, 'unknown') as channel,
        row_number() over w as touch_order,
        count(*) over (partition by o.opportunity_id) as touch_count
    from as_of_opportunities as o
    inner join as_of_persons as p on o.person_id = p.person_id
    inner join core.touchpoint as t
        on t.person_id = p.person_id
            and t.occurred_at <= o.created_at
            and t.occurred_at > o.created_at - make_interval(days => cast(:lookback_days as integer))
    left join core.campaign as cp on t.campaign_id = cp.campaign_id
    window w as (partition by o.opportunity_id order by t.occurred_at, t.source_record_id, t.touch_type)
),

key_touches as (
    select
        opportunity_id,
        min(touch_order) as first_order,
        max(touch_order) as last_order,
        coalesce(max(touch_order) filter (where occurred_at <= lead_created_at), min(touch_order)) as lead_order
    from touches
    group by opportunity_id
),

positions as (
    select
        t.opportunity_id, t.touch_order,
        (t.touch_order = k.first_order)::int + (t.touch_order = k.lead_order)::int
            + (t.touch_order = k.last_order)::int as key_positions,
        count(*) filter (where t.touch_order not in (k.first_order, k.lead_order, k.last_order))
            over (partition by t.opportunity_id) as middle_touches
    from touches as t
    inner join key_touches as k on t.opportunity_id = k.opportunity_id
),

credited as (
    select
        t.*,
        (t.touch_order = k.first_order)::int::numeric as first_touch_credit,
        (t.touch_order = k.last_order)::int::numeric as last_touch_credit,
        1.0 / t.touch_count as linear_credit,
        0.3 * ps.key_positions + case
            when ps.middle_touches = 0 then 0.1 / 3 * ps.key_positions
            when ps.key_positions = 0 then 0.1 / ps.middle_touches
            else 0
        end as w_shaped_credit
    from touches as t
    inner join key_touches as k on t.opportunity_id = k.opportunity_id
    inner join positions as ps on t.opportunity_id = ps.opportunity_id and t.touch_order = ps.touch_order
),

final as (
    select
        c.opportunity_id,
        coalesce('campaign:' || c.campaign_id, 'channel:' || c.channel) as credit_key,
        c.campaign_id,
        cp.name as campaign_name,
        c.channel,
        count(*) as touches,
        sum(c.first_touch_credit) as first_touch_credit,
        sum(c.last_touch_credit) as last_touch_credit,
        round(sum(c.linear_credit), 6) as linear_credit,
        round(sum(c.w_shaped_credit), 6) as w_shaped_credit,
        cast(max(c.amount) as numeric(18, 2)) as opportunity_amount,
        bool_or(c.is_won) as is_won
    from credited as c
    left join core.campaign as cp on c.campaign_id = cp.campaign_id
    group by c.opportunity_id, c.campaign_id, cp.name, c.channel
)

select
    *,
    cast(:reporting_currency as text) as currency  -- of every amount here
from final
