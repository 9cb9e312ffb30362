"""Great Expectations suites: each catches its bad rows and lets the good ones through."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing.landing import land_page
from smarketing.quality import DataQualityError, suite_dir, validate_pending
from smarketing.sources.base import RawRecord

NOW = datetime.now(UTC).replace(microsecond=0)
PAST = NOW - timedelta(days=30)
FUTURE = NOW + timedelta(days=30)


def sf(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def hs(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def contact(email="ann@example.com", created=PAST, stage="lead"):
    return {"properties": {"email": email, "createdate": hs(created) if created else None, "lifecyclestage": stage}}


def opportunity(amount=1000, currency="EUR", stage="Qualification", close="2026-09-30", account="001A"):
    return {"Id": "x", "AccountId": account, "Amount": amount, "CurrencyIsoCode": currency, "StageName": stage,
            "CloseDate": close, "CreatedDate": sf(PAST), "IsDeleted": False}


def event(kind="OPEN", recipient="ann@example.com", at=PAST):
    return {"type": kind, "recipient": recipient, "created": int(at.timestamp() * 1000)}


def statuses(*subs, recipient="ann@example.com"):
    return {"recipient": recipient, "subscriptionStatuses": [
        {"id": "101", "status": status, "legalBasis": basis} for status, basis in subs]}


def stage_change(opportunity_id="006A", stage="Qualification", amount=500, created=PAST):
    return {"OpportunityId": opportunity_id, "StageName": stage, "Amount": amount, "CreatedDate": sf(created)}


# suite -> rows as (record id, payload, the critical check that must quarantine it, or None)
CASES = {
    "hubspot__contacts": [
        ("good", contact(), None),
        ("good-no-email", contact(email=None), None),
        ("bad-email", contact(email="ann@@example"), "email_valid"),
        ("no-createdate", contact(created=None), "created_at_present"),
        ("future", contact(created=FUTURE), "created_at_not_in_future"),
        ("odd-stage", contact(stage="prospect"), None),  # a warning only
    ],
    "hubspot__email_events": [
        ("good", event(), None),
        ("unknown-type", event(kind="TELEPORT"), "event_type_known"),
        ("bad-recipient", event(recipient="nobody"), "recipient_valid"),
        ("future", event(at=FUTURE), "occurred_at_not_in_future"),
        # milliseconds no timestamp holds: the first stopped every read of the staging view,
        # the second Python's date conversion (year 33658)
        ("far-1e20", {**event(), "created": 1e20}, "occurred_at_present"),
        ("far-1e15", {**event(), "created": 10**15}, "occurred_at_present"),
    ],
    "hubspot__subscription_statuses": [
        ("good", statuses(("SUBSCRIBED", "CONSENT_WITH_NOTICE"), ("NOT_SUBSCRIBED", None)), None),
        ("no-basis", statuses(("SUBSCRIBED", None)), None),  # a warning only
        ("odd-status", statuses(("MAYBE", "CONSENT_WITH_NOTICE")), "status_known"),
        ("odd-basis", statuses(("SUBSCRIBED", "BECAUSE")), "legal_basis_known"),
    ],
    "salesforce__opportunities": [
        ("good", opportunity(), None),
        ("negative", opportunity(amount=-5), "amount_not_negative"),
        ("amount-1e16", opportunity(amount=10**16), "amount_not_negative"),  # numeric(18, 2) holds less
        ("currency", opportunity(currency="XXX"), "currency_known"),
        ("stage", opportunity(stage="Maybe Later"), "stage_name_known"),
        ("close-2999", opportunity(close="2999-01-01"), "close_date_plausible"),
        # a README-only trial's: 'infinity' passed (its range check could not compare it) and failed
        # the merge; 'today' became the processing day
        ("close-infinity", opportunity(close="infinity"), "close_date_readable"),
        ("close-today", opportunity(close="today"), "close_date_readable"),
        ("close-10000", opportunity(close="10000-01-01"), "close_date_readable"),  # Python holds no such date
        ("no-account", opportunity(account="001MISSING"), None),  # a warning only
    ],
    "salesforce__opportunity_history": [
        ("good", stage_change(), None),
        ("no-opportunity-id", stage_change(opportunity_id=None), "opportunity_id_present"),
        ("stage", stage_change(stage="Dreaming"), "stage_name_known"),
        ("negative", stage_change(amount=-1), "amount_not_negative"),
        ("future", stage_change(created=FUTURE), "created_at_not_in_future"),
    ],
    "salesforce__leads": [
        ("good", {"Email": "Lee@Example.com ", "LastName": "Lee", "Company": "Acme", "CreatedDate": sf(PAST)}, None),
        ("no-last-name", {"Email": "x@example.com", "LastName": None, "CreatedDate": sf(PAST)}, "last_name_present"),
        ("bad-email", {"Email": "x at example", "LastName": "X", "CreatedDate": sf(PAST)}, "email_valid"),
    ],
}


def land(eng, suite, rows):
    source, entity = suite.split("__", 1)
    page = [RawRecord(record_id, PAST, payload) for record_id, payload, _ in rows]
    land_page(eng, source, entity, page, "run-1", PAST)
    if suite == "salesforce__opportunities":
        land_page(eng, "salesforce", "accounts", [RawRecord("001A", PAST, {"Name": "A", "CreatedDate": sf(PAST)})],
                  "run-1", PAST)
    if suite == "salesforce__opportunity_history":
        land_page(eng, "salesforce", "opportunities", [RawRecord("006A", PAST, opportunity())], "run-1", PAST)


def test_there_is_a_suite_for_every_raw_entity_that_feeds_core():
    suites = {p.stem for p in suite_dir().glob("*.json")}
    assert len(suites) >= 8
    assert {"hubspot__contacts", "hubspot__companies", "hubspot__email_events", "hubspot__subscription_statuses",
            "salesforce__leads", "salesforce__contacts", "salesforce__accounts", "salesforce__opportunities",
            "salesforce__opportunity_history", "salesforce__tasks", "salesforce__events"} <= suites


@pytest.mark.parametrize("suite", sorted(CASES))
def test_suite_quarantines_exactly_its_bad_rows(empty_warehouse, warehouse_url, suite):
    rows = CASES[suite]
    land(empty_warehouse, suite, rows)
    source, entity = suite.split("__", 1)
    validate_pending(empty_warehouse, warehouse_url, "run-1", [(source, entity)], max_failure_share=1.0)
    with empty_warehouse.connect() as conn:
        quarantined = dict(conn.execute(text(
            "select record_id, expectation from quarantine.records where source = :s and entity = :e"),
            {"s": source, "e": entity}).all())
        pending = conn.execute(text("select count(*) from meta.batches where validated_at is null")).scalar()
    assert quarantined == {record_id: check for record_id, _, check in rows if check}
    assert pending == 1 if suite in ("salesforce__opportunities", "salesforce__opportunity_history") else pending == 0


def test_dq_results_hold_one_row_per_check_with_counts(empty_warehouse, warehouse_url):
    land(empty_warehouse, "salesforce__opportunities", CASES["salesforce__opportunities"])
    validate_pending(empty_warehouse, warehouse_url, "run-1", [("salesforce", "opportunities")], max_failure_share=1.0)
    with empty_warehouse.connect() as conn:
        results = conn.execute(text(
            "select check_name, severity, success, element_count, unexpected_count, rows_quarantined"
            " from meta.dq_results where run_id = 'run-1' and suite = 'salesforce__opportunities' order by check_name"
        )).all()
    assert [tuple(r) for r in results] == [
        ("account_exists", "warning", False, 10, 1, 0),
        ("amount_not_negative", "critical", False, 10, 2, 2),
        ("close_date_plausible", "critical", False, 10, 1, 1),
        ("close_date_readable", "critical", False, 10, 3, 3),
        ("created_at_not_in_future", "critical", True, 10, 0, 0),
        ("created_at_present", "critical", True, 10, 0, 0),
        ("currency_known", "critical", False, 10, 1, 1),
        ("one_row_per_id_and_version", "critical", True, 10, 0, 0),
        ("record_id_present", "critical", True, 10, 0, 0),
        ("stage_name_known", "critical", False, 10, 1, 1),
    ]


def test_a_batch_failing_beyond_the_threshold_stops_and_promotes_nothing(empty_warehouse, warehouse_url):
    rows = [(f"c{n}", contact(email=f"p{n}@example.com"), None) for n in range(18)]
    rows += [("bad1", contact(email="nope"), "email_valid"), ("bad2", contact(email="also nope"), "email_valid")]
    land(empty_warehouse, "hubspot__contacts", rows)
    with pytest.raises(DataQualityError) as err:
        validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=0.05)
    message = str(err.value)
    assert "suite hubspot__contacts: 2 of 20 rows (10.0%) failed critical checks, above the allowed 5%" in message
    assert "email_valid [critical]: 2 unexpected" in message
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from meta.batches where validated_at is null")).scalar() == 1
        assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 0
        assert conn.execute(text("select check_name from meta.dq_results where not success")).scalars().all() == [
            "email_valid"]
        # held, not quarantined: the results say so, as quarantine.records does (found by a trial)
        assert conn.execute(text("select unexpected_count, rows_quarantined from meta.dq_results"
                                 " where check_name = 'email_valid'")).one() == (2, 0)

    # the same batch passes once the threshold allows it; the two bad rows are quarantined
    validate_pending(empty_warehouse, warehouse_url, "run-2", [("hubspot", "contacts")], max_failure_share=0.2)
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 2
        assert conn.execute(text("select rows_quarantined from meta.dq_results where run_id = 'run-2'"
                                 " and check_name = 'email_valid'")).scalar() == 2


def test_every_failing_row_counts_and_is_quarantined_not_only_the_first_twenty(empty_warehouse, warehouse_url):
    """Great Expectations lists at most ``partial_unexpected_count`` (20) failing rows unless told
    otherwise: 60 bad addresses among 1,060 rows (5.7 %) must hold the batch at 5 %, and be
    quarantined all 60 at a looser threshold, not 20 of them."""
    rows = [(f"c{n}", contact(email=f"p{n}@example.com"), None) for n in range(1000)]
    rows += [(f"bad{n}", contact(email=f"share-bad-{n}"), "email_valid") for n in range(60)]
    land(empty_warehouse, "hubspot__contacts", rows)
    with pytest.raises(DataQualityError) as err:
        validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=0.05)
    assert "60 of 1060 rows (5.7%)" in str(err.value)

    validate_pending(empty_warehouse, warehouse_url, "run-2", [("hubspot", "contacts")], max_failure_share=0.1)
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 60
        assert conn.execute(text("select rows_quarantined from meta.dq_results where run_id = 'run-2'"
                                 " and check_name = 'email_valid'")).scalar() == 60


def test_suites_dealt_to_two_processes_judge_every_row_as_one_process_does(empty_warehouse, warehouse_url,
                                                                           tmp_path, monkeypatch):
    """config/quality.yaml ``processes: 2``: the suites are checked here and in a process forked from
    here. Whichever process checked a suite, its bad rows are quarantined, its checks recorded and
    its page in the Data Docs; two suites over their own failure share are both named and held,
    the others pass."""
    import os
    import shutil

    import yaml

    from smarketing.config import PATHS

    config = tmp_path / "config"
    shutil.copytree(PATHS.config, config)
    settings = yaml.safe_load((config / "quality.yaml").read_text())
    held = {"hubspot__email_events", "salesforce__leads"}  # 5 of 6 and 2 of 3 rows bad
    settings.update(processes=2, max_failure_share=1.0, suites={name: {"max_failure_share": 0.01} for name in held})
    (config / "quality.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    monkeypatch.setenv("SMARKETING_DATA_DOCS_DIR", str(tmp_path / "docs"))
    for suite, rows in CASES.items():
        land(empty_warehouse, suite, rows)
    entities = [tuple(name.split("__", 1)) for name in [*CASES, "salesforce__accounts"]]

    with pytest.raises(DataQualityError) as err:
        validate_pending(empty_warehouse, warehouse_url, "run-1", entities)

    assert sorted(name for name in held if f"suite {name}:" in str(err.value)) == sorted(held)
    passed = {o.suite: o for o in err.value.outcomes}
    assert set(passed) == set(CASES) - held | {"salesforce__accounts"}
    assert {o.process for o in passed.values()} | {os.getpid()} == {o.process for o in passed.values()}
    assert len({o.process for o in passed.values()}) == 2
    with empty_warehouse.connect() as conn:
        quarantined = set(conn.execute(text("select source || '__' || entity, record_id, expectation"
                                            " from quarantine.records")).all())
        pending = conn.execute(text("select distinct source || '__' || entity from meta.batches"
                                    " where validated_at is null")).scalars().all()
        recorded = conn.execute(text("select distinct suite from meta.dq_results where run_id = 'run-1'")).scalars()
        recorded = set(recorded)
    assert quarantined == {(suite, record_id, check) for suite, rows in CASES.items() if suite not in held
                           for record_id, _, check in rows if check}
    assert set(pending) == held
    assert recorded == set(CASES) | {"salesforce__accounts"}
    from smarketing.report import summary

    assert ("  batches not merged: hubspot__email_events 1 held back (over its failure share); salesforce__leads 1"
            " held back (over its failure share); the next run checks them again"
            ) in summary(empty_warehouse, warehouse_url, NOW.date()).splitlines()
    pages = [p.relative_to(tmp_path / "docs").parts for p in (tmp_path / "docs" / "validations").rglob("*.html")]
    assert {suite for suite in recorded if any(suite in parts for parts in pages)} == recorded
    assert {p.stem for p in (tmp_path / "docs" / "expectations").glob("*.html")} >= recorded


def test_malformed_demo_contacts_are_quarantined_and_data_docs_are_built(empty_warehouse, warehouse_url,
                                                                         demo_dataset):
    from smarketing.demo.world import DemoSource
    from smarketing.quality import data_docs_dir

    for page in DemoSource("hubspot", demo_dataset).extract("contacts", None):
        land_page(empty_warehouse, "hubspot", "contacts", page, "run-1", page[-1].version_at)
    validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")])
    with empty_warehouse.connect() as conn:
        reasons = conn.execute(text("select reason from quarantine.records order by reason")).scalars().all()
    assert reasons == [
        "email_valid failed (expect_column_values_to_match_regex on email): 'broken@@example'",
        "email_valid failed (expect_column_values_to_match_regex on email): 'not-an-email'",
    ]
    index = data_docs_dir() / "index.html"
    assert index.exists() and "hubspot__contacts" in index.read_text()


@pytest.mark.parametrize(("settings", "passes"), [
    ("", False),                                                        # the shipped 5 %
    ("suites: {hubspot__contacts: {max_failure_share: 0.2}}", True),    # this suite may fail more
    ("suites: {hubspot__email_events: {max_failure_share: 0.2}}", False),  # another suite's override
    ("max_failure_share: 0.2", True),                                   # every suite may fail more
])
def test_the_validate_task_honours_the_thresholds_of_quality_yaml(empty_warehouse, tmp_path, monkeypatch,
                                                                  settings, passes):
    from smarketing import tasks
    from smarketing.config import PATHS

    body = (PATHS.root / "config" / "quality.yaml").read_text()
    if settings.startswith("suites"):
        body = body.replace("suites: {}", settings)
    elif settings:
        body = body.replace("max_failure_share: 0.05", settings)
    (tmp_path / "quality.yaml").write_text(body)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    rows = [(f"c{n}", contact(email=f"p{n}@example.com"), None) for n in range(18)]
    rows += [("bad1", contact(email="nope"), "email_valid"), ("bad2", contact(email="also nope"), "email_valid")]
    land(empty_warehouse, "hubspot__contacts", rows)
    validated = tasks.validate("run-1", NOW.date())  # a held suite is named; the gate fails after the merge
    if passes:
        assert validated["hubspot__contacts"]["quarantined"] == 2 and "held" not in validated
        tasks.quality_gate(validated, {"missing_rates": []})
        with pytest.raises(DataQualityError, match="the merge did not finish"):
            tasks.quality_gate(validated, None)  # the merge task failed: the run must not end in success
    else:
        assert "suite hubspot__contacts: 2 of 20 rows" in validated["held"]
        with pytest.raises(DataQualityError, match="suite hubspot__contacts: 2 of 20 rows"):
            tasks.quality_gate(validated, {"missing_rates": []})


def test_nan_and_infinity_read_as_no_number(empty_warehouse):
    """Found by a trial: 'Infinity' passed "amount not negative" and failed the merge; 'NaN'
    reached core and failed every rate of its month. Both are numerics to PostgreSQL."""
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql(
            "select meta.try_numeric('NaN'), meta.try_numeric('Infinity'), meta.try_numeric('-Infinity'),"
            " meta.try_numeric('1250.50'), meta.try_numeric('1,5')").one() == (None, None, None, Decimal("1250.50"),
                                                                                  None)


def test_a_held_batch_stays_held_when_clean_batches_land_after_it(empty_warehouse, warehouse_url):
    """A batch over the failure share is not diluted by the batches that land after it: judged with
    them, 60 bad rows of 1,060 and 150 clean ones (4.96 %) would pass, and the held rows would
    reach core unchanged (found by a README-only trial). The clean batch passes on its own."""
    rows = [(f"c{n}", contact(email=f"p{n}@example.com"), None) for n in range(1000)]
    rows += [(f"bad{n}", contact(email=f"share-bad-{n}"), "email_valid") for n in range(60)]
    land(empty_warehouse, "hubspot__contacts", rows)
    with pytest.raises(DataQualityError):
        validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=0.05)
    land_page(empty_warehouse, "hubspot", "contacts",
              [RawRecord(f"later{n}", PAST, contact(email=f"later{n}@example.com")) for n in range(150)], "run-2", PAST)
    with pytest.raises(DataQualityError) as err:
        validate_pending(empty_warehouse, warehouse_url, "run-2", [("hubspot", "contacts")], max_failure_share=0.05)
    assert "60 of 1060 rows (5.7%)" in str(err.value)
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select rows_received, validated_at is not null from meta.batches"
                                 " order by rows_received")).all() == [(150, True), (1060, False)]
        # the run's results add both groups up: the check failed in it
        assert tuple(conn.execute(text("select success, element_count, unexpected_count from meta.dq_results"
                                       " where run_id = 'run-2' and check_name = 'email_valid'")).one()) == (
            False, 1210, 60)


@pytest.mark.parametrize(("processes", "broken", "kind"), [
    (1, "salesforce__leads", "json"),
    (2, "hubspot__email_events", "json"),  # dealt to the forked process (contacts and leads stay here)
    (2, "salesforce__leads", "sql"),
    (1, "hubspot__email_events", "sql"),
])
def test_a_suite_that_cannot_run_is_named_after_every_other_suite_ran(empty_warehouse, warehouse_url, tmp_path,
                                                                     processes, broken, kind):
    """A copy of the project with one suite's file broken (its expectations' JSON, or its
    sql/quality projection reading a table that does not exist), validated as the validate task
    does in a process of its own: the other suites are validated and recorded, the task fails with
    a ConfigError naming the suite and both its files, and the broken suite's batch stays pending
    until a run with the file repaired validates it."""
    import os
    import shutil
    import subprocess
    import sys

    import yaml

    from smarketing.config import PATHS

    project = tmp_path / "project"
    for folder in ("plugins", "sql", "expectations", "config"):
        shutil.copytree(PATHS.root / folder, project / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "uncommitted"))
    json_file, sql_file = f"expectations/gx/expectations/{broken}.json", f"sql/quality/{broken}.sql"
    if kind == "json":
        (project / json_file).write_text('{"name": "' + broken + '", "expectations": [')
    else:
        (project / sql_file).write_text(f"select * from raw.{broken}_gone")
    settings = yaml.safe_load((project / "config" / "quality.yaml").read_text())
    settings.update(processes=processes, max_failure_share=1.0)
    (project / "config" / "quality.yaml").write_text(yaml.safe_dump(settings))
    suites = ["hubspot__contacts", "hubspot__email_events", "salesforce__leads"]
    for suite in suites:
        land(empty_warehouse, suite, CASES[suite])

    done = subprocess.run(
        [sys.executable, "-c", "import datetime\nfrom smarketing import tasks\n"
                               "tasks.validate('run-1', datetime.date(2026, 6, 30))"],
        env={**os.environ, "PYTHONPATH": str(project / "plugins"), "SMARKETING_CONFIG_DIR": str(project / "config"),
             "SMARKETING_DATA_DOCS_DIR": str(tmp_path / "docs")},
        capture_output=True, text=True, timeout=600, check=False)

    assert done.returncode != 0
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"smarketing.paths.ConfigError: validation could not run suite {broken}"
                            f" ({json_file}, {sql_file}): ")
    assert "Their batches stay pending" in error
    others = set(suites) - {broken}
    with empty_warehouse.connect() as conn:
        pending = conn.execute(text("select distinct source || '__' || entity from meta.batches"
                                    " where validated_at is null")).scalars().all()
        recorded = set(conn.execute(text("select distinct suite from meta.dq_results")).scalars())
        quarantined = set(conn.execute(text("select source || '__' || entity, record_id from quarantine.records")))
    assert pending == [broken]
    assert recorded == others
    from smarketing.report import summary

    assert (f"  batches not merged: {broken} 1 not validated (its suite could not run, or the run stopped before);"
            " the next run checks them again") in summary(empty_warehouse, warehouse_url, NOW.date()).splitlines()
    assert quarantined == {(suite, record_id) for suite in others for record_id, _, check in CASES[suite] if check}

    validate_pending(empty_warehouse, warehouse_url, "run-2", [tuple(s.split("__", 1)) for s in suites],
                     max_failure_share=1.0)  # the repository's own files
    with empty_warehouse.connect() as conn:
        pending = conn.execute(text("select count(*) from meta.batches where validated_at is null")).scalar()
        quarantined = set(conn.execute(text("select source || '__' || entity, record_id from quarantine.records")))
    assert pending == 0
    assert quarantined == {(suite, record_id) for suite in suites for record_id, _, check in CASES[suite] if check}
