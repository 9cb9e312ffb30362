-- What the file__deals suite checks: every field of the batch's deals (staging's typed projection)
-- and the currency of an amount ('missing' when a deal has an amount but no currency, which no
-- currency list holds).
select
    typed.*,
    case
        when coalesce(typed.amount, typed.declared_amount) is not null then coalesce(typed.currency, 'missing')
    end as amount_currency
from {typed} as typed
where not typed.is_deleted
