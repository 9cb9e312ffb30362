"""The safety property, over random people: no list, file or push ever holds a suppressed address.

Which addresses must be suppressed is worked out here, independently of the SQL, from each
generated person's flags.
"""

import csv
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from smarketing.config import ConnectionInfo
from smarketing.demo.fakes import FakeHubSpot
from smarketing.kpis import kpi_settings, refresh_marts
from smarketing.nurture import hubspot_list
from smarketing.nurture.lists import build_list, refresh_suppression
from smarketing.nurture.programs import load_programs, nurture_settings
from smarketing.sources.http_client import RetryPolicy
from smarketing.sources.hubspot import HubSpotSource

AS_OF = date(2026, 6, 30)
FLAGS = ("unsubscribed", "resubscribed", "hard_bounce", "soft_bounce", "spam", "opt_out", "no_basis", "manual",
         "internal", "merged", "no_email")

person = st.fixed_dictionaries({
    "mailbox": st.sampled_from(["ann", "ben", "cara", "dan"]),   # few, so people share addresses
    "domain": st.sampled_from(["a.example", "b.example", "smarketing.example"]),
    "flags": st.sets(st.sampled_from(FLAGS), max_size=3),
    "won_days_ago": st.integers(min_value=0, max_value=400),
    "product_line": st.sampled_from(["Analytics", "Automation"]),
    "in_hubspot": st.booleans(),
})


def must_suppress(people):
    """Addresses no list may hold, by the rules of suppressed_mailbox.sql, worked out from the flags.
    A merged-away person is kept off the lists itself; the mailbox stays open to the person it
    was merged into and to others sharing it. The mailbox's latest subscription event counts, whose
    person carries it: a resubscribe (10 days ago) lifts every unsubscribe (20 days ago) of that
    mailbox, under any person."""
    bad = set()
    resubscribed = {f"{p['mailbox']}@{p['domain']}" for p in people
                    if {"unsubscribed", "resubscribed"} <= p["flags"] and "no_email" not in p["flags"]}
    for p in people:
        f = p["flags"]
        if "no_email" in f:
            continue
        email = f"{p['mailbox']}@{p['domain']}"
        if (("unsubscribed" in f and email not in resubscribed) or "hard_bounce" in f or "spam" in f
                or "opt_out" in f or "no_basis" in f or "manual" in f
                or p["domain"] == "smarketing.example"):
            bad.add(email)
    return bad


def load(conn, people):
    conn.exec_driver_sql("truncate core.person, core.opportunity, core.email_event, core.consent, core.person_identity,"
                         " nurture.manual_suppression, nurture.list_members, nurture.list_membership,"
                         " nurture.list_runs, nurture.platform_sync, nurture.suppressed, marts.customer_segments"
                         " restart identity cascade")
    for n, p in enumerate(people, start=1):
        f, email = p["flags"], None if "no_email" in p["flags"] else f"{p['mailbox']}@{p['domain']}"
        conn.execute(text("insert into core.person (person_id, match_key, email, has_email_opt_out)"
                          " overriding system value values (:n, :k, :e, :o)"),
                     {"n": n, "k": f"p{n}", "e": email, "o": "opt_out" in f})
        won = AS_OF - timedelta(days=p["won_days_ago"])
        conn.execute(text("insert into core.opportunity (source, source_record_id, person_id, stage_name, amount,"
                          " product_line, created_at, close_date, is_closed, is_won) values ('salesforce', :r, :n,"
                          " 'Closed Won', 1000, :line, :won, :won, true, true)"),
                     {"r": f"o{n}", "n": n, "line": p["product_line"], "won": won})
        events = []
        if "unsubscribed" in f:
            events.append(("STATUSCHANGE", "UNSUBSCRIBED", None, AS_OF - timedelta(days=20)))
            if "resubscribed" in f:
                events.append(("STATUSCHANGE", "SUBSCRIBED", None, AS_OF - timedelta(days=10)))
        if "hard_bounce" in f:
            events.append(("BOUNCE", None, "UNKNOWN_USER", AS_OF - timedelta(days=5)))
        if "soft_bounce" in f:
            events.append(("BOUNCE", None, "MAILBOX_FULL", AS_OF - timedelta(days=5)))
        if "spam" in f:
            events.append(("SPAMREPORT", None, None, AS_OF - timedelta(days=5)))
        for i, (kind, status, category, at) in enumerate(events):
            conn.execute(text("insert into core.email_event (source, source_record_id, person_id, event_type, email,"
                              " occurred_at, subscription_status, bounce_category) values ('hubspot', :r, :n, :k,"
                              " :e, :at, :s, :c)"),
                         {"r": f"e{n}-{i}", "n": n, "k": kind, "e": email, "at": at, "s": status, "c": category})
        conn.execute(text("insert into core.consent (person_id, channel, subscription, source, status, legal_basis)"
                          " values (:n, 'email', 'Customer updates', 'hubspot', 'SUBSCRIBED', :b)"),
                     {"n": n, "b": None if "no_basis" in f else "LEGITIMATE_INTEREST_CLIENT"})
        if "manual" in f and email:
            conn.execute(text("insert into nurture.manual_suppression (email, reason) values (:e, 'test')"
                              " on conflict do nothing"), {"e": email})
        if p["in_hubspot"]:
            conn.execute(text("insert into core.person_identity (source, entity, source_record_id, person_id,"
                              " match_rule) values ('hubspot', 'contacts', :r, :n, 'unique')"),
                         {"r": str(1000 + n), "n": n})
    for n, p in enumerate(people, start=1):
        if "merged" in p["flags"]:
            conn.execute(text("update core.person set merged_into_person_id = :m where person_id = :n"),
                         {"m": 1 if n != 1 else None, "n": n})
            if n == 1:
                conn.execute(text("update core.person set is_deleted = true where person_id = 1"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(person, min_size=1, max_size=8))
@example(people=[  # found by the property: one mailbox resubscribed under one person, unsubscribed under another
    {"mailbox": "ann", "domain": "a.example", "flags": flags, "won_days_ago": 0, "product_line": "Analytics",
     "in_hubspot": False} for flags in (set(), {"unsubscribed"}, {"unsubscribed", "resubscribed"})])
def test_no_list_file_or_push_ever_holds_a_suppressed_address(nurture_engine, people, tmp_path_factory):
    eng, fake, client = nurture_engine
    with eng.begin() as conn:
        load(conn, people)
    fake.lists.clear()
    fake.pushed.clear()
    fake.objects["contacts"] = {str(1000 + n): {"id": str(1000 + n), "properties": {}, "archived": False}
                                for n in range(1, len(people) + 1)}
    bad = must_suppress(people)
    export_dir = tmp_path_factory.mktemp("exports")
    refresh_marts(eng, AS_OF, kpi_settings())
    refresh_suppression(eng, nurture_settings())
    for name, program in load_programs().items():
        result = build_list(eng, program, AS_OF, "run", export_dir)
        with eng.connect() as conn:
            listed = set(conn.execute(text("select email from nurture.list_members where program = :p"),
                                      {"p": name}).scalars().all())
        with open(result.export_path, newline="") as handle:
            exported = {row["email"] for row in csv.DictReader(handle)}
        assert not listed & bad, name
        assert not exported & bad, name
        with eng.connect() as conn:
            merged = conn.execute(text("select count(*) from nurture.list_members l join core.person p using"
                                       " (person_id) where p.merged_into_person_id is not null or p.is_deleted"
                                       )).scalar_one()
        assert merged == 0, name
        hubspot_list.push(eng, client, name, f"list {name}")
    pushed_people = {int(r) - 1000 for r in fake.pushed}
    pushed_addresses = {f"{people[n - 1]['mailbox']}@{people[n - 1]['domain']}" for n in pushed_people}
    assert not pushed_addresses & bad



@pytest.fixture(scope="module")
def nurture_engine(engine):
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    fake = FakeHubSpot(token="t0ken")
    fake.start()
    client = HubSpotSource(ConnectionInfo("hubspot_default", fake.url, password="t0ken"),
                           policy=RetryPolicy(max_attempts=2, base_delay=0, timeout=5)).client
    yield engine, fake, client
    fake.stop()
