"""Lead response in business hours, from file drops (no API at all), against a Berlin sales team's
calendar: Monday to Friday, 09:00 to 17:00 on Berlin's wall clock, Christmas Day off, an SLA of 8
hours. Worked out by hand (December 2025: Berlin is UTC+1).

| person | MQL (UTC)         | first activity (UTC) | calendar hours | business hours (Berlin)                      |
|--------|-------------------|----------------------|----------------|----------------------------------------------|
| K1     | Fri 05 Dec 15:00  | Mon 08 Dec 09:00     | 66             | Fri 16-17 + Mon 9-10 = 2                     |
| K2     | Wed 24 Dec 16:00  | Fri 26 Dec 08:30     | 40.5           | Wed from 17:00, Thu a holiday, Fri 9-9:30 = 0.5 |
| K3     | Sat 13 Dec 10:00  | Mon 15 Dec 17:30     | 55.5           | all Monday: 8 (within, at the limit)         |
| K4     | Tue 02 Dec 07:00  | Wed 03 Dec 12:00     | 29             | Tue 9-17 + Wed 9-13 = 12                     |
| K5     | Wed 10 Dec 10:00  | none                 | -              | - (no response: outside)                     |
| K6     | Tue 16 Dec 23:30  | Wed 17 Dec 08:15     | 8.75           | Wed 00:30 to 09:15 in Berlin: 0.25           |
"""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing.config import PATHS
from smarketing.kpis import kpi_settings, refresh_marts
from tests.fixtures.drops import files_only

AS_OF = date(2025, 12, 31)
CONTACTS = """id;email;first;last;created;mql
K1;k1@kunde.example;Jörg;Kühn;2025-11-20T08:00:00Z;2025-12-05T15:00:00Z
K2;k2@kunde.example;Zoë;Ångström;2025-11-20T08:00:00Z;2025-12-24T16:00:00Z
K3;k3@kunde.example;Łukasz;Żak;2025-11-20T08:00:00Z;2025-12-13T10:00:00Z
K4;k4@kunde.example;Ана;Петрова;2025-11-20T08:00:00Z;2025-12-02T07:00:00Z
K5;k5@kunde.example;Søren;Øster;2025-11-20T08:00:00Z;2025-12-10T10:00:00Z
K6;k6@kunde.example;Inés;Núñez;2025-11-20T08:00:00Z;2025-12-16T23:30:00Z
"""
ACTIVITIES = """id;type;when;contact
A1;call;2025-12-08T09:00:00Z;K1
A2;email;2025-12-26T08:30:00Z;K2
A3;call;2025-12-15T17:30:00Z;K3
A4;meeting;2025-12-03T12:00:00Z;K4
A6;call;2025-12-17T08:15:00Z;K6
A7;call;2025-12-18T08:15:00Z;K6
"""
DROPS = """drops:
  contacts: {entity: contacts, location: {f}/contacts, delimiter: ";", columns: {email: email, first: first_name,
             last: last_name, created: first_contact_date, mql: mql_date}}
  activities: {entity: activities, location: {f}/activities, delimiter: ";", columns: {type: type,
               when: occurred_at, contact: contact_id}}
"""
CALENDAR = {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00", "end": "17:00",
            "timezone": "Europe/Berlin", "holidays": [date(2025, 12, 25)]}


@pytest.fixture(scope="module")
def warehouse(engine, tmp_path_factory):
    from smarketing import tasks
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    folder = files_only(tmp_path_factory.mktemp("response"), {"contacts": CONTACTS, "activities": ACTIVITIES}, DROPS)
    # the shipped kpis.yaml, with the calendar written as a user would, times unquoted
    shipped = (PATHS.root / "config" / "kpis.yaml").read_text(encoding="utf-8")
    (folder / "kpis.yaml").write_text(shipped.replace("lead_response_sla_hours: 24", "lead_response_sla_hours: 8")
                                      + "lead_response_business_hours:\n  days: [Mon, Tue, Wed, Thu, Fri]\n"
                                        "  start: 09:00\n  end: 17:00\n  timezone: Europe/Berlin\n"
                                        "  holidays: [2025-12-25]\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        tasks.run_pipeline("response", AS_OF)
        settings = kpi_settings()
    return engine, settings


def responses(eng) -> dict[str, tuple]:
    with eng.connect() as conn:
        return {r[0]: tuple(float(v) if isinstance(v, Decimal) else v for v in r[1:]) for r in conn.execute(text(
            "select split_part(p.email, '@', 1), r.response_hours, r.response_business_hours, r.is_within_sla"
            " from marts.lead_response_time as r join core.person as p using (person_id)"))}


def test_the_run_counts_only_the_calendars_hours(warehouse):
    eng, settings = warehouse
    assert settings["lead_response_business_hours"] == CALENDAR  # 09:00 and 17:00 read as times, not numbers
    assert responses(eng) == {
        "k1": (66.0, 2.0, True), "k2": (40.5, 0.5, True), "k3": (55.5, 8.0, True), "k4": (29.0, 12.0, False),
        "k5": (None, None, False), "k6": (8.75, 0.25, True)}
    with eng.connect() as conn:
        summary = conn.execute(text("select median_response_hours, share_within_sla from marts.kpi_summary"
                                    " where month = '2025-12-01'")).one()
    # the summary is in business hours too: 0.25, 0.5, 2, 8, 12 (K5 has none) -> median 2; 4 of 6 within
    assert summary == (Decimal("2.00"), Decimal("0.6667"))


def calendar(**change):
    return {**CALENDAR, **change}


@pytest.mark.parametrize(("key", "calendar_after", "changed"), [
    # Saturday a working day: K1's Saturday 9-17 counts, and K3's from 11:00 in Berlin
    ("days", calendar(days=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]), {"k1": (66.0, 10.0, False),
                                                                         "k3": (55.5, 14.0, False)}),
    # from 08:00 in Berlin: K1 Monday 8-10, K2 Friday 8-9:30, K3 Monday 8-17, K4 Tuesday 8-17 and Wednesday
    # 8-13, K6 8-9:15
    ("start", calendar(start="08:00"), {"k1": (66.0, 3.0, True), "k2": (40.5, 1.5, True), "k3": (55.5, 9.0, False),
                                        "k4": (29.0, 14.0, False), "k6": (8.75, 1.25, True)}),
    # to 18:00: K1 Friday 16-18, K2 Wednesday 17-18, K3 Monday 9-18 (the call came at 18:30), K4 Tuesday 9-18
    ("end", calendar(end="18:00"), {"k1": (66.0, 3.0, True), "k2": (40.5, 1.5, True), "k3": (55.5, 9.0, False),
                                    "k4": (29.0, 13.0, False)}),
    # the calendar on UTC's wall clock: K2 Wednesday 16-17, K4 Tuesday 9-17 and Wednesday 9-12, K6 answered
    # at 08:15 UTC, before the day began (K1 and K3 come out the same)
    ("timezone", calendar(timezone="UTC"), {"k2": (40.5, 1.0, True), "k4": (29.0, 11.0, False),
                                            "k6": (8.75, 0.0, True)}),
    # no holiday: K2 gets Christmas Day 9-17 as well
    ("holidays", calendar(holidays=[]), {"k2": (40.5, 8.5, False)}),
    # no calendar: calendar hours against the SLA of 8
    ("lead_response_business_hours", None, {"k1": (66.0, None, False), "k2": (40.5, None, False),
                                            "k3": (55.5, None, False), "k4": (29.0, None, False),
                                            "k6": (8.75, None, False)}),
])
def test_every_calendar_setting_has_its_effect(warehouse, key, calendar_after, changed):
    eng, settings = warehouse
    before = responses(eng)
    try:
        refresh_marts(eng, AS_OF, {**settings, "lead_response_business_hours": calendar_after})
        assert responses(eng) == {**before, **changed}
    finally:
        refresh_marts(eng, AS_OF, settings)
