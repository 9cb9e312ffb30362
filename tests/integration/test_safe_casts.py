"""The staging views' safe casts (``meta.try_*``) and the LinkedIn key read what the versions that
caught the cast's error read (V005, V023, V024, V035), for any string, but PostgreSQL's words and
notations (V045), without opening a subtransaction per call: in a transaction that has created
many relations, as the merge has, ending one scans the whole relation cache
(sql/schema/V044__casts_without_subtransactions.sql). The phone key reads what V035's reads,
without a query per call (V049)."""

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from smarketing.warehouse import sql_path

# The catching versions, read from the migrations that made them: the oracle.
CATCHING = {"meta.try_timestamptz": "V005__safe_casts.sql", "meta.try_date": "V005__safe_casts.sql",
            "meta.try_boolean": "V023__try_boolean.sql", "meta.try_numeric": "V024__finite_numbers.sql",
            "core.identity_linkedin_key": "V035__identity_keys_that_prove_something.sql",
            "core.identity_phone_key": "V035__identity_keys_that_prove_something.sql"}


def catching_version(name: str, migration: str) -> str:
    """The ``create function`` of ``name`` in ``migration``, made in ``pg_temp`` instead."""
    text_ = (sql_path("schema") / migration).read_text()
    found = re.search(rf"create (?:or replace )?function {re.escape(name)}\(.*?\n\$\$;", text_, re.S)
    assert found, f"{name} in {migration}"
    return f"create function pg_temp.{name.split('.')[1]}" + found.group(0).split(name, 1)[1]


tricky = st.sampled_from([
    "", " ", "NaN", "nan", " Infinity ", "-inf", "+Infinity", "1e999999", "-1e-999999", "1,5", "1.250,50", "0x1F",
    "1_000", "١٢٣", "12abc", "2024-02-30", "2024-02-29", "0000-01-01", "294277-01-01", "5874898-01-01",
    "2024-13-01", "epoch", "infinity", "-infinity", "now", "today", "allballs", "J2451187", "24:00",
    "2024-06-30T24:00:00Z", "2024-06-30 10:00 Mars/Olympus", "2024-06-30 10:00 Europe/Berlin",
    "2024-06-30T10:00:00+25:00", "30.06.2024", "06/30/2024", "1719742800000", "yes", "no", "on", "off", "t",
    "tru", "TRUE ", "1", "0", "2", "y", "n", "linkedin.com/in/j%C3%BCrgen", "linkedin.com/in/j%FCrgen",
    "https://www.LinkedIn.com/in/anna-berg/", "linkedin.com/in/%", "linkedin.com/in/%zz%41", "linkedin.com/in/ÄÖÜ",
    "+49 (30) 555-0101", "000-000-0000", "030 555 0101", "0049 30 1111 2222", "555-1212", "55-12-12", "١٢٣٤٥٦٧٨٩",
    "+1 800 FLOWERS", "1234567", "123456", "0800 000 0001",
])
value = st.one_of(tricky, st.text(max_size=30), st.from_regex(r"[-+ ]?[0-9]{1,8}([.,][0-9]{0,4})?(e[-+]?[0-9]{1,7})?",
                                                               fullmatch=True),
                  st.from_regex(r"\+?[0-9 ()./-]{0,6}[0-3 -]{0,12}[0-9]{0,4}", fullmatch=True))  # phone numbers


@pytest.fixture(scope="module")
def warehouse(engine):
    from smarketing import warehouse as wh

    wh.migrate(engine)
    return engine


def both(conn, values):
    """Per value and function: (the value, the function, the catching version's result, the warehouse's)."""
    pairs = [f"pg_temp.{name.split('.')[1]}(v)::text, {name}(v)::text" for name in CATCHING]
    rows = conn.execute(text(f"select {', '.join(pairs)}"
                             " from unnest(cast(:vs as text[])) with ordinality as t (v, n) order by n"),
                        {"vs": values}).all()
    return [(v, name, row[2 * i], row[2 * i + 1]) for v, row in zip(values, rows, strict=True)
            for i, name in enumerate(CATCHING)]


@pytest.fixture
def oracle(warehouse):
    with warehouse.connect() as conn:
        driver = conn.connection.driver_connection  # psycopg itself: the bodies hold % and :name
        for name, migration in CATCHING.items():
            driver.execute(catching_version(name, migration))
        yield conn
        conn.rollback()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(value, min_size=1, max_size=40))
@example(values=["2024-06-30T10:00:00Z", "1250.50", "false", "linkedin.com/in/j%C3%BCrgen", "30 November 2024"])
def test_the_casts_read_what_the_catching_versions_read_or_nothing(oracle, values):
    """Never another value: where a cast reads one, it is the catching version's."""
    values = [v.replace("\x00", "") for v in values]  # PostgreSQL text cannot hold NUL
    found = both(oracle, values)
    assert [f for f in found if f[3] is not None and f[3] != f[2]] == []
    unchanged = ("meta.try_boolean", "core.identity_linkedin_key", "core.identity_phone_key")  # V045 changed none
    assert [f for f in found if f[1] in unchanged and f[3] != f[2]] == []


@pytest.mark.parametrize(("call", "expected"), [
    ("meta.try_date('infinity')", None), ("meta.try_date('-infinity')", None), ("meta.try_date('today')", None),
    ("meta.try_date('Tomorrow')", None), ("meta.try_date('epoch')", None), ("meta.try_date(' now ')", None),
    ("meta.try_timestamptz('infinity')", None), ("meta.try_timestamptz('today 10:00')", None),
    ("meta.try_timestamptz('allballs')", None), ("meta.try_numeric('0x10')", None),
    ("meta.try_numeric('0b101')", None), ("meta.try_numeric('0o17')", None), ("meta.try_numeric('1_000')", None),
    ("meta.try_numeric('NaN')", None), ("meta.try_numeric('-Infinity')", None),
    ("meta.try_date('30 November 2024')", "2024-11-30"), ("meta.try_date('2026-06-30')", "2026-06-30"),
    ("meta.try_timestamptz('2026-06-30T10:00:00+02:00')", "2026-06-30 08:00:00+00"),
    ("meta.try_numeric(' 12 ')", "12"), ("meta.try_numeric('-3.5')", "-3.5"), ("meta.try_numeric('.5')", "0.5"),
    ("meta.try_numeric('2.5e3')", "2500"), ("meta.try_numeric('1250.')", "1250"),
    # a second trial's: words glued to a time, numbers no double holds (a check compares them as
    # one), milliseconds below a double's range
    ("meta.try_date('10:00today')", None), ("meta.try_date('today10:00')", None),
    ("meta.try_date('0:0tomorrow')", None), ("meta.try_timestamptz('10:00yesterday')", None),
    ("meta.try_numeric('1e400')", None), ("meta.try_numeric('-1e-400')", None), ("meta.try_numeric('0e500')", "0"),
    ("meta.try_epoch_ms('1e-330')", None), ("meta.try_epoch_ms('1e20')", None),
    ("meta.try_epoch_ms('1719742800000')", "2024-06-30 10:20:00+00"),
])
def test_words_and_notations_are_no_values(warehouse, call, expected):
    """Found by a README-only trial: a close date 'infinity' failed the merge, 'today' became the
    processing day, an amount '0x10' read as 16 and '1_000' as 1000."""
    with warehouse.connect() as conn:
        conn.exec_driver_sql("set timezone = 'UTC'")
        found = conn.exec_driver_sql(f"select ({call})::text").scalar()
    assert found == expected


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
