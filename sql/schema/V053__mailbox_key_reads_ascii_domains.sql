-- One mailbox whether its domain is written in Unicode or in the ASCII form DNS carries it
-- (anna@xn--mller-kva.de is anna@müller.de): an unsubscribe under one spelling suppressed
-- nothing under the other. And an opt-out on a quarantined record whose email field holds two
-- addresses reaches both (sql/nurture/suppressed_mailbox.sql); it was keyed by the whole field.

-- One 'xn--' label decoded as RFC 3492 (punycode) says, exactly as Python's punycode codec does
-- (smarketing/mailbox.py); the label unchanged when it is not valid punycode, is longer than DNS
-- allows (63), or decodes to nothing or to a character no text holds. Never raises: keys are
-- computed inside every merge.
create function core.punycode_label(label text) returns text
language plpgsql immutable parallel safe as $$
declare
    encoded text := substr(label, 5);
    dash int := position('-' in reverse(encoded));
    base int[];
    extended text;
    extpos int := 1;
    code numeric := 128;
    pos numeric := -1;
    bias numeric := 72;
    delta numeric;
    first boolean;
    w numeric;
    j int;
    t numeric;
    digit int;
    c text;
begin
    if left(label, 4) <> 'xn--' or length(label) > 63 or encoded !~ '^[\x01-\x7f]*$' then
        return label;
    end if;
    if dash = 0 then
        base := '{}';
        extended := upper(encoded);
    else
        base := coalesce((select array_agg(ascii(ch) order by n) from unnest(
            string_to_array(left(encoded, length(encoded) - dash), null)) with ordinality as s (ch, n)), '{}');
        extended := upper(right(encoded, dash - 1));
    end if;
    while extpos <= length(extended) loop
        first := extpos = 1;
        delta := 0;
        w := 1;
        j := 0;
        loop
            if extpos > length(extended) then
                return label;  -- incomplete
            end if;
            c := substr(extended, extpos, 1);
            extpos := extpos + 1;
            if c between 'A' and 'Z' then
                digit := ascii(c) - 65;
            elsif c between '0' and '9' then
                digit := ascii(c) - 22;
            else
                return label;
            end if;
            t := least(greatest(36 * (j + 1) - bias, 1), 26);
            delta := delta + digit * w;
            exit when digit < t;
            w := w * (36 - t);
            j := j + 1;
        end loop;
        pos := pos + delta + 1;
        code := code + div(pos, cardinality(base) + 1);
        if code > 1114111 or code between 55296 and 57343 then
            return label;
        end if;
        pos := mod(pos, cardinality(base) + 1);
        base := base[1:pos] || code::int || base[pos + 1:];
        delta := case when first then div(delta, 700) else div(delta, 2) end;
        delta := delta + div(delta, cardinality(base));
        bias := 0;
        while delta > 455 loop
            delta := div(delta, 35);
            bias := bias + 36;
        end loop;
        bias := bias + div(36 * delta, delta + 38);
    end loop;
    if cardinality(base) = 0 then
        return label;
    end if;
    return (select string_agg(chr(cp), '' order by n) from unnest(base) with ordinality as s (cp, n));
end;
$$;

-- As V016's, with each 'xn--' label of the domain decoded and folded again.
create or replace function core.mailbox_key(email text) returns text
language plpgsql immutable parallel safe as $$
declare
    address text := core.email_fold(email);
    wrapped text := case when position('<' in address) > 0  -- "Olga Wolf <olga@x.de>"
        then substring(address from '<([^<>]*)>[^<]*$') end;
    local_part text;
    domain_part text;
begin
    if position('@' in coalesce(wrapped, '')) > 0 then
        address := btrim(wrapped, E' \t\n\r\u000b\f\u00a0\ufeff\u200b');
    end if;
    if left(address, 7) = 'mailto:' then
        address := substr(address, 8);
    end if;
    if position('@' in address) = 0 then
        return nullif(address, '');
    end if;
    local_part := coalesce(nullif(split_part(split_part(address, '@', 1), '+', 1), ''), split_part(address, '@', 1));
    domain_part := rtrim(substr(address, position('@' in address) + 1), '.');
    if position('xn--' in domain_part) > 0 then
        domain_part := core.email_fold((
            select string_agg(core.punycode_label(label), '.' order by n)
            from unnest(string_to_array(domain_part, '.')) with ordinality as labels (label, n)));
    end if;
    if domain_part in ('gmail.com', 'googlemail.com') then
        return replace(local_part, '.', '') || '@gmail.com';
    end if;
    return local_part || '@' || domain_part;
end;
$$;

-- The mailboxes a field names: its key and, when it holds more than one address
-- ("a@x.example, b@y.example", "Ann <a@x.example>; b@y.example"), each address's key.
create function core.mailbox_keys(field text) returns setof text
language sql immutable parallel safe as $$
    select core.mailbox_key(field) where core.mailbox_key(field) is not null
    union
    select core.mailbox_key(address[1])
    from regexp_matches(field, '[^[:space:],;<>"''()]+@[^[:space:],;<>"''()]+', 'g') as address
    where length(field) - length(replace(field, '@', '')) > 1
$$;

-- Every stored key follows the rule at once; identity's rules version 8 makes the first merge
-- after this a full refresh, which recomputes core.identity_record's keys and the persons.
update core.email_event set email_key = core.mailbox_key(email)
where email ilike '%xn--%' and email_key is distinct from core.mailbox_key(email);
update core.mailbox_consent set mailbox_key = core.mailbox_key(email)
where email ilike '%xn--%' and mailbox_key is distinct from core.mailbox_key(email);
update nurture.manual_suppression set email = email where email ilike '%xn--%';  -- its key is generated
update nurture.list_members set mailbox_key = core.mailbox_key(email)
where email ilike '%xn--%' and mailbox_key is distinct from core.mailbox_key(email);
