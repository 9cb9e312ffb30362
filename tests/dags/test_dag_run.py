"""All four DAGs run through Airflow (dag.test) against the embedded PostgreSQL warehouse."""

from datetime import date

import pytest
from sqlalchemy import text

from smarketing.local_airflow import DAG_ORDER, prepare_airflow, run_dags
from tests.conftest import AIRFLOW_HOME, live_records, reset_warehouse
from tests.fixtures import demo_story, nurture_without


@pytest.fixture(scope="module")
def outcomes(engine, fake_apis):
    reset_warehouse(engine)
    prepare_airflow(AIRFLOW_HOME)
    return run_dags(date.fromisoformat(demo_story.AS_OF))


def test_every_dag_succeeds_in_chain_order(outcomes):
    assert [(o.dag_id, o.state) for o in outcomes] == [(dag_id, "success") for dag_id in DAG_ORDER]


def test_the_runs_load_the_exact_rows_and_kpis(outcomes, engine, demo_dataset, fake_apis):
    person_records = live_records(demo_dataset) & set(demo_dataset.person_of) - demo_dataset.malformed
    with engine.connect() as conn:
        raw_contacts = conn.execute(text("select count(*) from raw.hubspot__contacts")).scalar()
        raw_opps = conn.execute(text("select count(*) from raw.salesforce__opportunities")).scalar()
        identities = conn.execute(text("select count(*) from core.person_identity")).scalar()
        june = conn.execute(
            text("select leads, mqls, sqls, opportunities, won, won_amount from marts.funnel"
                 " where month = '2026-06-01' and channel = 'all'")
        ).mappings().one()
        members = conn.execute(
            text("select email from nurture.list_members where program = 'recent_customers' order by email")
        ).scalars().all()
        stages = conn.execute(text("select stage from meta.runs order by stage")).scalars().all()
    assert raw_contacts == demo_dataset.count("hubspot", "contacts")
    assert raw_opps == demo_dataset.count("salesforce", "opportunities")
    assert identities == len(person_records)
    assert dict(june) == demo_story.JUNE_FUNNEL
    assert members == ["ada@analytical.io", "claude@entropy.info", "hedy@spread.fm"]
    assert stages == ["extract_hubspot", "extract_mailchimp", "extract_salesforce", "file_drops", "kpis", "merge",
                      "nurture", "validate"]
    hubspot, salesforce, _ = fake_apis
    assert hubspot.calls("/crm/v3/objects/contacts/search") > 0, "extract went through the HubSpot API"
    assert salesforce.calls("/services/data/v62.0/queryAll") > 0, "extract went through the Salesforce API"


def test_the_kpi_and_nurture_runs_leave_the_report_of_the_day_with_its_lists(outcomes, engine):
    from smarketing.kpi_report import figures
    from smarketing.paths import PATHS

    page = (PATHS.reports / "kpis_2026-06-30.html").read_text()
    with engine.connect() as conn:
        programs = set(conn.execute(text("select program from nurture.list_runs where as_of = '2026-06-30'")).scalars())
    shown = {f["key"] for f in figures(page) if f["mart"] == "nurture.list_runs" and f["column"] == "as_of"
             and f["value"] == "2026-06-30"}
    assert programs and shown == programs


def test_a_failed_task_is_reported_and_stops_the_chain(outcomes, tmp_path, monkeypatch):
    """A HubSpot system without its Airflow connection: extract fails at once, nothing runs after it."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text("systems:\n  hubspot:\n    kind: hubspot\n    conn_id: no_such_connection\n")
    (config / "nurture.yaml").write_text(nurture_without("mailchimp", "salesforce_campaign"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    (extract,) = run_dags(date(2026, 6, 30))
    assert (extract.dag_id, extract.ok) == ("smarketing_extract", False)
    assert "task(s) failed" in extract.problem()


def test_a_business_date_before_the_dags_start_date_still_runs_every_task(outcomes, engine):
    """The DAGs start in 2026; a run for 2018 ran no task and said success. Runs last in this
    module: it rebuilds the marts for 2018."""
    (kpis,) = run_dags(date(2018, 11, 30), ("smarketing_kpis",))
    assert kpis.ok and kpis.tasks == {"success": 2}  # the marts and the report
    with engine.connect() as conn:
        assert conn.execute(text("select as_of from meta.runs where stage = 'kpis' order by finished_at desc"
                                 " limit 1")).scalar() == date(2018, 11, 30)


@pytest.mark.parametrize("system", ["hubspot", "salesforce"])
def test_rejected_credentials_fail_the_extract_after_one_try(outcomes, fake_apis, tmp_path, monkeypatch, system):
    """A wrong token or secret: one refused call, the task failed on its first try (Airflow's
    retries would ask again for minutes with the same credentials)."""
    import json

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    fake = dict(zip(["hubspot", "salesforce"], fake_apis[:2], strict=True))[system]
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(f"systems:\n  {system}:\n    kind: {system}\n    conn_id: wrong\n")
    (config / "nurture.yaml").write_text(nurture_without("mailchimp", "salesforce_campaign"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    monkeypatch.setenv("AIRFLOW_CONN_WRONG", json.dumps(
        {"conn_type": "http", "host": fake.url, "login": "key", "password": "not-the-secret"}))
    before = len(fake.requests)
    (extract,) = run_dags(date(2026, 6, 30))
    assert not extract.ok
    assert len(fake.requests) - before == 1
    with create_session() as session:
        state, tries = session.execute(select(TaskInstance.state, TaskInstance.try_number).where(
            TaskInstance.dag_id == "smarketing_extract", TaskInstance.task_id == "extract")
            .order_by(TaskInstance.start_date.desc()).limit(1)).one()
    assert (str(getattr(state, "value", state)), tries) == ("failed", 1)


def test_a_failed_merge_fails_the_transform_and_stops_the_chain(outcomes, engine):
    """The warehouse refuses the merge's writes (a trigger stands in for a full disk): the merge
    task fails, the quality gate fails with it, the run is no success and nothing after it runs
    on stale core. Before, the gate (which runs whatever happened) ended the run in success."""
    with engine.begin() as conn:
        conn.exec_driver_sql("create function core.refuse() returns trigger language plpgsql as"
                             " $$ begin raise exception 'injected: no space left on device'; end $$")
        conn.exec_driver_sql("create trigger refuse before insert or update on core.opportunity"
                             " for each row execute function core.refuse()")
        conn.exec_driver_sql("update meta.batches set promoted_at = null")  # something to merge again
    try:
        chain = run_dags(date(2026, 6, 30), ("smarketing_transform", "smarketing_kpis"), {"full_refresh": True})
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("drop trigger refuse on core.opportunity")
            conn.exec_driver_sql("drop function core.refuse()")
    assert [(o.dag_id, o.ok) for o in chain] == [("smarketing_transform", False)]
    assert chain[0].tasks.get("failed") == 2, chain[0].tasks  # merge and quality_gate
