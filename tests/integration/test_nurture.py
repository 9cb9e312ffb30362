"""Nurture lists on a core built by hand (tests/fixtures/nurture_core.sql), as of 2026-06-30."""

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import text

from smarketing.config import PATHS, ConnectionInfo
from smarketing.demo.fakes import FakeHubSpot, Fault
from smarketing.kpis import kpi_settings, refresh_marts
from smarketing.nurture import hubspot_list
from smarketing.nurture.lists import build_list, refresh_suppression
from smarketing.nurture.programs import load_programs, nurture_settings
from smarketing.sources.http_client import RetryPolicy
from smarketing.sources.hubspot import HubSpotSource
from smarketing.warehouse import run_script

AS_OF = date(2026, 6, 30)
PROGRAMS = load_programs()


def build_all(eng, as_of, run_id="run"):
    refresh_marts(eng, as_of, kpi_settings())
    refresh_suppression(eng, nurture_settings())
    return {name: build_list(eng, program, as_of, run_id) for name, program in PROGRAMS.items()}


@pytest.fixture
def nurture(empty_warehouse):
    with empty_warehouse.begin() as conn:
        run_script(conn, (PATHS.root / "tests" / "fixtures" / "nurture_core.sql").read_text())
    return empty_warehouse


def members(eng, program, as_of=AS_OF):
    with eng.connect() as conn:
        return conn.execute(text("select email from nurture.list_members where program = :p and as_of = :d"
                                 " order by email"), {"p": program, "d": as_of}).scalars().all()


def test_each_program_selects_exactly_its_people(nurture):
    results = build_all(nurture, AS_OF)
    # onboarding, won 23..30 June: Ann (27th) and the 28th's winners, of whom only Fay is not suppressed
    assert members(nurture, "onboarding") == ["ann@a.example", "fay@f.example"]
    assert members(nurture, "recent_customers") == ["ann@a.example", "fay@f.example"]
    # cross-sell, Analytics without Automation: Ann and Ben (Dan has both)
    assert members(nurture, "cross_sell") == ["ann@a.example", "ben@b.example"]
    # renewal, contract ending 29 Aug .. 28 Sep: Ben's (won 15 Sep 2025)
    assert members(nurture, "renewal") == ["ben@b.example"]
    # win-back, A-class (Cara 20,000 and Ben 5,000 of 29,000) with no purchase since 1 Jan
    assert members(nurture, "win_back") == ["ben@b.example", "cara@c.example"]
    assert (results["onboarding"].eligible, results["onboarding"].members) == (11, 2)


def test_every_suppression_reason_is_recorded(nurture):
    build_all(nurture, AS_OF)
    with nurture.connect() as conn:
        rows = conn.execute(text("select person_id, reason from nurture.suppressed order by person_id, reason")).all()
    assert [tuple(r) for r in rows] == [
        (5, "unsubscribed"),             # Eve unsubscribed on the 29th
        (7, "hard_bounce"),              # Gus: an unknown user (his full mailbox alone would not count)
        (8, "spam_complaint"),
        (9, "no_consent"),               # Ida is subscribed without a legal basis
        (10, "email_opt_out"),
        (11, "internal_or_test_domain"),
        (12, "manual"),
        (13, "merged_or_deleted"),
        (14, "no_email"),
    ]  # Fay unsubscribed in May but resubscribed in June: the latest event wins


def test_lists_are_versioned_and_each_run_records_its_diff(nurture):
    build_all(nurture, AS_OF, "run-1")
    with nurture.begin() as conn:  # Fay unsubscribes on 2 July
        conn.exec_driver_sql("insert into core.email_event (source, source_record_id, person_id, event_type, email,"
                             " occurred_at, subscription_status) values ('hubspot', 'e9', 6, 'STATUSCHANGE',"
                             " 'fay@f.example', '2026-07-02 09:00+00', 'UNSUBSCRIBED')")
    build_all(nurture, date(2026, 7, 3), "run-2")
    build_all(nurture, date(2026, 7, 6), "run-3")  # Ann's purchase (27 June) leaves the 7-day window
    build_all(nurture, date(2026, 7, 6), "run-3")  # a rerun of the same date changes nothing
    with nurture.connect() as conn:
        runs = conn.execute(text("select as_of, members, added, removed, unchanged from nurture.list_runs"
                                 " where program = 'onboarding' order by as_of")).all()
        history = conn.execute(text("select email, added_on, removed_on from nurture.list_membership"
                                    " where program = 'onboarding' order by email")).all()
        view = conn.execute(text("select email from nurture.list_onboarding")).scalars().all()
    assert [tuple(r) for r in runs] == [
        (AS_OF, 2, 2, 0, 0), (date(2026, 7, 3), 1, 0, 1, 1), (date(2026, 7, 6), 0, 0, 1, 0)]
    assert [tuple(r) for r in history] == [
        ("ann@a.example", AS_OF, date(2026, 7, 6)), ("fay@f.example", AS_OF, date(2026, 7, 3))]
    assert view == []


def test_csv_is_written_whole_and_rewritten_identically(nurture, tmp_path):
    path = build_list(nurture, PROGRAMS["cross_sell"], AS_OF, "run", tmp_path).export_path
    refresh_suppression(nurture, nurture_settings())
    first = build_list(nurture, PROGRAMS["cross_sell"], AS_OF, "run", tmp_path).export_path.read_bytes()
    assert path.name == "cross_sell_2026-06-30.csv"
    assert first.decode().splitlines() == ["email,first_name,last_name,last_purchase_date",
                                           "ann@a.example,Ann,,2026-06-27", "ben@b.example,Ben,,2025-09-15"]
    assert build_list(nurture, PROGRAMS["cross_sell"], AS_OF, "run", tmp_path).export_path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"


def test_lists_pull_writes_csv_and_json(nurture, warehouse_url, monkeypatch, capsys, tmp_path):
    from smarketing.cli import main

    build_all(nurture, AS_OF)
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", warehouse_url.replace("+psycopg", ""))
    assert main(["lists", "pull", "renewal"]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == [
        {"email": "ben@b.example", "first_name": "Ben", "last_name": "", "contract_end_date": "2026-09-15"}]
    out = tmp_path / "win_back.json"
    assert main(["lists", "pull", "win_back", "--format", "json", "--out", str(out)]) == 0
    assert [r["email"] for r in json.loads(out.read_text())] == ["ben@b.example", "cara@c.example"]
    assert out.stat().st_mode & 0o777 == 0o600, "personal data: the owner's alone"
    assert main(["lists", "pull", "nope"]) == 2
    assert main(["lists", "suppress", " Ben@B.example ", "--reason", "asked by phone"]) == 0
    build_all(nurture, AS_OF)
    assert members(nurture, "renewal") == []


def test_push_sends_only_the_diff_and_survives_retries(nurture):
    fake = FakeHubSpot(token="t0ken")
    for contact_id in ("1001", "1002", "1006"):
        fake.put("contacts", {"id": contact_id, "properties": {}, "archived": False})
    fake.start()
    try:
        client = HubSpotSource(ConnectionInfo("hubspot_default", fake.url, password="t0ken"),
                               policy=RetryPolicy(max_attempts=3, base_delay=0, timeout=5)).client
        client.sleep = lambda _: None
        build_all(nurture, AS_OF)
        fake.inject(Fault(502, times=1, path="/crm/v3/lists/1/memberships"))
        first = hubspot_list.push(nurture, client, "onboarding", "Smarketing · onboarding")
        assert (first.added, first.removed, first.without_record) == (2, 0, 0)
        assert fake.lists["1"]["members"] == {"1001", "1006"}
        again = hubspot_list.push(nurture, client, "onboarding", "Smarketing · onboarding")
        assert (again.added, again.removed) == (0, 0)
        assert fake.calls("/crm/v3/lists/1/memberships") == 2  # one failed, one accepted, none on the rerun

        with nurture.begin() as conn:  # Fay unsubscribes; the next run takes her off the platform
            conn.exec_driver_sql("insert into core.email_event (source, source_record_id, person_id, event_type,"
                                 " email, occurred_at, subscription_status) values ('hubspot', 'e9', 6,"
                                 " 'STATUSCHANGE', 'fay@f.example', '2026-07-01 09:00+00', 'UNSUBSCRIBED')")
        build_all(nurture, date(2026, 7, 1))
        after = hubspot_list.push(nurture, client, "onboarding", "Smarketing · onboarding")
        assert (after.added, after.removed) == (0, 1)
        assert fake.lists["1"]["members"] == {"1001"}
    finally:
        fake.stop()


def test_marketing_reads_the_program_views_and_bi_does_not(nurture, login_as):
    import psycopg

    build_all(nurture, AS_OF)
    with login_as("smarketing_marketing") as conn:
        emails = [r[0] for r in conn.execute("select email from nurture.list_onboarding order by email")]
    assert emails == ["ann@a.example", "fay@f.example"]
    with login_as("smarketing_bi") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select email from nurture.list_onboarding")
