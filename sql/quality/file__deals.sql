-- What the file__deals suite checks: every field of the batch's deals (staging's typed projection)
-- and two derived ones: the currency of an amount ('missing' when a deal has an amount but no
-- currency, which no currency list holds) and the person record the deal names.
select
    typed.*,
    case
        when coalesce(typed.amount, typed.declared_amount) is not null then coalesce(typed.currency, 'missing')
    end as amount_currency,
    coalesce(typed.contact_id, typed.lead_id) as person_record_id
from {typed} as typed
where not typed.is_deleted
