"""The staging views' safe casts (``meta.try_*``) and the LinkedIn key give what the versions that
caught the cast's error gave (V005, V023, V024, V035), for any string, without opening a
subtransaction per call: in a transaction that has created many relations, as the merge has,
ending one scans the whole relation cache (sql/schema/V044__casts_without_subtransactions.sql)."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

# The catching versions, as they were before V044: the oracle.
CATCHING = {
    "try_timestamptz": ("timestamptz", "return value::timestamptz;"),
    "try_date": ("date", "return value::date;"),
    "try_boolean": ("boolean", "return value::boolean;"),
    "try_numeric": ("numeric", "parsed := value::numeric; if parsed = 'NaN'::numeric or parsed in"
                               " ('Infinity'::numeric, '-Infinity'::numeric) then return null; end if;"
                               " return parsed;"),
}
LINKEDIN_CATCHING = r"""
create function pg_temp.identity_linkedin_key(value text) returns text language plpgsql immutable as $$
declare
    slug text := substring(value from '(?i)linkedin\.com/in/([^/?#[:space:]]+)');
begin
    if slug is null then
        return null;
    end if;
    begin
        slug := convert_from(
            (select string_agg(case when part ~ '^%[0-9A-Fa-f]{2}$' then decode(substr(part, 2), 'hex')
                               else convert_to(part, 'UTF8') end, ''::bytea order by n)
             from regexp_matches(slug, '%[0-9A-Fa-f]{2}|[^%]+|%', 'g') with ordinality as m (parts, n),
                  lateral (select m.parts[1] as part) as p),
            'UTF8');
    exception when others then
        null;
    end;
    return 'linkedin.com/in/' || core.email_fold(slug);
end
$$"""

tricky = st.sampled_from([
    "", " ", "NaN", "nan", " Infinity ", "-inf", "+Infinity", "1e999999", "-1e-999999", "1,5", "1.250,50", "0x1F",
    "1_000", "١٢٣", "12abc", "2024-02-30", "2024-02-29", "0000-01-01", "294277-01-01", "5874898-01-01",
    "2024-13-01", "epoch", "infinity", "-infinity", "now", "today", "allballs", "J2451187", "24:00",
    "2024-06-30T24:00:00Z", "2024-06-30 10:00 Mars/Olympus", "2024-06-30 10:00 Europe/Berlin",
    "2024-06-30T10:00:00+25:00", "30.06.2024", "06/30/2024", "1719742800000", "yes", "no", "on", "off", "t",
    "tru", "TRUE ", "1", "0", "2", "y", "n", "linkedin.com/in/j%C3%BCrgen", "linkedin.com/in/j%FCrgen",
    "https://www.LinkedIn.com/in/anna-berg/", "linkedin.com/in/%", "linkedin.com/in/%zz%41", "linkedin.com/in/ÄÖÜ",
])
value = st.one_of(tricky, st.text(max_size=30), st.from_regex(r"[-+ ]?[0-9]{1,8}([.,][0-9]{0,4})?(e[-+]?[0-9]{1,7})?",
                                                               fullmatch=True))


@pytest.fixture(scope="module")
def warehouse(engine):
    from smarketing import warehouse as wh

    wh.migrate(engine)
    return engine


def both(conn, values):
    """Per value: (the catching version's results, the warehouse's) of every function."""
    columns = [f"meta.{name}(v)" for name in CATCHING] + ["core.identity_linkedin_key(v)"]
    oracle = [f"pg_temp.{name}(v)" for name in CATCHING] + ["pg_temp.identity_linkedin_key(v)"]
    rows = conn.execute(text(f"select row({', '.join(oracle)})::text, row({', '.join(columns)})::text"
                             " from unnest(cast(:vs as text[])) with ordinality as t (v, n) order by n"),
                        {"vs": values}).all()
    return [(v, old, new) for v, (old, new) in zip(values, rows, strict=True)]


@pytest.fixture
def oracle(warehouse):
    with warehouse.connect() as conn:
        driver = conn.connection.driver_connection  # psycopg itself: the bodies hold % and :name
        for name, (type_name, body) in CATCHING.items():
            driver.execute(
                f"create function pg_temp.{name}(value text) returns {type_name} language plpgsql immutable as $$"
                f" declare parsed numeric; begin {body} exception when others then return null; end; $$")
        driver.execute(LINKEDIN_CATCHING)
        yield conn
        conn.rollback()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(value, min_size=1, max_size=40))
@example(values=["2024-06-30T10:00:00Z", "1250.50", "false", "linkedin.com/in/j%C3%BCrgen"])
def test_the_casts_give_what_the_catching_versions_gave(oracle, values):
    values = [v.replace("\x00", "") for v in values]  # PostgreSQL text cannot hold NUL
    assert [(v, new) for v, _, new in both(oracle, values)] == [(v, old) for v, old, _ in both(oracle, values)]


def test_the_casts_answer_malformed_values_with_null(warehouse):
    with warehouse.connect() as conn:
        assert conn.exec_driver_sql(
            "select meta.try_timestamptz('2024-02-30'), meta.try_date('30.06.2024x'), meta.try_boolean('maybe'),"
            " meta.try_numeric('1e999999'), meta.try_numeric('12.5'), meta.try_boolean('yes')").one() == (
            None, None, None, None, pytest.approx(12.5), True)


def test_no_safe_cast_opens_a_subtransaction(warehouse):
    """An exception block is what opened the subtransaction; none of the casts has one now."""
    with warehouse.connect() as conn:
        catching = conn.execute(text(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'meta' and p.proname like 'try\\_%' and p.prosrc ~* '\\mexception\\M'"
            " order by 1")).scalars().all()
    assert catching == []
