"""No secret and no personal value outside the warehouse, from the outside in: the four DAGs run
through Airflow on the demo data with planted credentials, rate limits and server errors on the
way, then one more run with a token pasted with its line break; afterwards every place a person or
a tool reads besides the warehouse's own data (task logs and process output, Airflow's metadata
database with its task results, the alert line, ``meta.*``, the Data Docs) is searched for the
credentials and for every e-mail address and distinctive name the sources served."""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from urllib.parse import quote

from smarketing.demo.fakes import FakeHubSpot, FakeMailchimp, FakeSalesforce, Fault, connection_env
from smarketing.local_airflow import prepare_airflow, run_dags
from tests.conftest import AIRFLOW_HOME, STATE, reset_warehouse
from tests.fixtures import demo_story

HUBSPOT_TOKEN = "pat-eu1-PLANTED-7f3e9b21"
SALESFORCE_SECRET = "sf-secret-PLANTED-c0ffee42"
MAILCHIMP_KEY = "mc0PLANTED9d1e5a77b3-us21"
EMAIL = re.compile(r"[^\s@\"'<>,;]+@[^\s@\"'<>,;]+\.[a-z]{2,}", re.I)
NAME_FIELDS = ("firstname", "lastname", "FirstName", "LastName", "Name", "name")


def personal_values(dataset) -> set[str]:
    """Every e-mail address in any served payload (as written and as a URL writes it), and names of
    seven letters or more (shorter ones are words a log may hold by chance: 'Ada', 'Grace')."""
    found: set[str] = set()

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            found.update(f(m).lower() for m in EMAIL.findall(value) for f in (str, lambda m: quote(m, safe="")))
            if key in NAME_FIELDS and len(value) >= 7 and " " not in value:
                found.add(value.lower())

    for (_, entity), records in dataset.records.items():
        if entity in ("contacts", "leads"):
            for record in records:
                walk(record.payload)
    return found


def outside_the_warehouse(engine, captured: str) -> dict[str, str]:
    places = {"process output and logs": captured}
    places["task log files"] = "\n".join(p.read_text(errors="replace") for p in (AIRFLOW_HOME / "logs").rglob("*")
                                         if p.is_file())
    places["airflow metadata (task results, run notes)"] = (AIRFLOW_HOME / "airflow.db").read_bytes().decode(
        "utf-8", errors="replace")
    places["data docs"] = "\n".join(p.read_text(errors="replace") for p in (STATE / "data_docs").rglob("*")
                                    if p.is_file())
    with engine.connect() as conn:
        # meta.nickname is a published list of first names (smarketing/nicknames.py), about no one
        tables = conn.exec_driver_sql("select table_name from information_schema.tables"
                                      " where table_schema = 'meta' and table_type = 'BASE TABLE'"
                                      " and table_name <> 'nickname'").scalars().all()
        places.update({f"meta.{t}": "\n".join(conn.exec_driver_sql(f"select x::text from meta.{t} as x").scalars())
                       for t in tables})
    return places


def test_no_credential_and_no_personal_value_leaves_the_warehouse(engine, demo_dataset, monkeypatch, capfd, caplog):
    hubspot = FakeHubSpot(demo_dataset, token=HUBSPOT_TOKEN)
    salesforce = FakeSalesforce(demo_dataset, client_secret=SALESFORCE_SECRET)
    mailchimp = FakeMailchimp(api_key=MAILCHIMP_KEY)
    hubspot.start()
    salesforce.start()
    mailchimp.start()
    # the error bodies echo what they were sent, as some gateways do
    hubspot.faults.append(Fault(429, times=2, path="/crm/v3/objects/contacts", headers={"Retry-After": "0"},
                                body=json.dumps({"message": f"slow down, Bearer {HUBSPOT_TOKEN}"})))
    salesforce.faults.append(Fault(503, times=1, path="/services/data", body=f"busy: {SALESFORCE_SECRET}"))
    mailchimp.faults.append(Fault(429, times=1, path="/3.0/lists", body=json.dumps({
        "title": "Too Many Requests", "detail": f"key {MAILCHIMP_KEY} is busy", "status": 429})))
    monkeypatch.setenv("SMARKETING_EXTRACT_SCHEDULE", "none")
    # the production level (at DEBUG, Airflow's own supervisor prints each value it is asked to mask)
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    for key, value in connection_env(hubspot, salesforce, mailchimp).items():
        monkeypatch.setenv(key, value)
    try:
        reset_warehouse(engine)
        prepare_airflow(AIRFLOW_HOME)
        as_of = date.fromisoformat(demo_story.AS_OF)
        with caplog.at_level(logging.DEBUG):
            assert {o.state for o in run_dags(as_of)} == {"success"}
            assert hubspot.calls("/crm/v3/objects/contacts/search") > 0
            pasted = json.loads(connection_env(hubspot, salesforce)["AIRFLOW_CONN_HUBSPOT_DEFAULT"])
            pasted["password"] = HUBSPOT_TOKEN + "\n"
            monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(pasted))
            (failed,) = run_dags(as_of, ("smarketing_extract",))
    finally:
        hubspot.stop()
        salesforce.stop()
        mailchimp.stop()
    out, err = capfd.readouterr()
    captured = "\n".join([out, err, caplog.text])
    assert failed.state == "failed"
    assert "hubspot_default" in captured and "line break" in captured, "the failure names the connection"

    leaks = []
    personal = personal_values(demo_dataset)
    assert len(personal) > 100
    for place, text in outside_the_warehouse(engine, captured).items():
        lowered = text.lower()
        for secret in (HUBSPOT_TOKEN, SALESFORCE_SECRET, MAILCHIMP_KEY):
            if secret.lower() in lowered:
                leaks.append(f"{place}: a credential")
        shown = sorted(value for value in personal if value in lowered)
        if shown:
            leaks.append(f"{place}: {len(shown)} personal values, e.g. {shown[0][:3]}...")
    assert leaks == []
