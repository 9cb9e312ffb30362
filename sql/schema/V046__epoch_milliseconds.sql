-- HubSpot's timestamps are milliseconds since 1970. The staging views read them with
-- to_timestamp(), which fails on a value no timestamp holds (1e20 stopped every read of the
-- email events' view, validation's too) and gives years Python cannot hold beyond 9999. Such a
-- value is empty, as meta.try_timestamptz reads one (V045), so a not-null check quarantines it.
create function meta.try_epoch_ms(value text) returns timestamptz
language plpgsql immutable as $$
declare
    millis numeric := meta.try_numeric(value);
begin
    -- from 0001-01-02 to before 9999-12-31 (UTC), as meta.try_timestamptz: a year in any time zone
    if millis is null or millis < -62135510400000 or millis >= 253402214400000 then
        return null;
    end if;
    return to_timestamp(millis / 1000.0);
end;
$$;
