"""End to end with Airflow's own processes: scheduler, dag-processor and api-server, LocalExecutor,
metadata on PostgreSQL (a database on the embedded server). Only the extract DAG is triggered; the
Asset chain must run transform, KPIs and nurture by itself, and the warehouse must hold the demo's
hand-computed story.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from smarketing import embedded
from smarketing.config import with_database
from tests.conftest import ROOT, STATE
from tests.fixtures import demo_story

pytestmark = pytest.mark.e2e
CHAIN = ("smarketing_extract", "smarketing_transform", "smarketing_kpis", "smarketing_nurture")
TIMEOUT = 600


def _airflow(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=env, check=True,
                         capture_output=True, text=True, timeout=180)
    return out.stdout


@pytest.fixture(scope="module")
def stack(demo_dataset):
    from smarketing.demo.fakes import start_demo_fakes

    home = STATE / "e2e"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    embedded.start(STATE / "pg", port=embedded.free_port())
    # Airflow's metadata as the server's superuser; the warehouse as the pipeline's own login
    airflow_url = embedded.admin_url(STATE / "pg")
    with psycopg.connect(airflow_url, autocommit=True) as conn:
        conn.execute("drop database if exists airflow_e2e with (force)")
        conn.execute("create database airflow_e2e")
    url = embedded.fresh_database(STATE / "pg", "smarketing_e2e")
    hubspot, salesforce, mailchimp, connections = start_demo_fakes(demo_dataset)
    api_port = embedded.free_port()
    env = {
        **os.environ, **connections,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": with_database(airflow_url, "airflow_e2e", "postgresql+psycopg2"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-only-secret-not-for-production",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_SMARKETING_WAREHOUSE": with_database(url, "smarketing_e2e", "postgresql"),
        "SMARKETING_EXTRACT_SCHEDULE": "none",
        "SMARKETING_EXPORT_DIR": str(home / "exports"),
        "SMARKETING_REPORT_DIR": str(home / "reports"),
        # a person who signs in to the UI (the simple auth manager, with a password of the test's own)
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "analyst:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
    }
    (home / "passwords.json").write_text(json.dumps({"analyst": "e2e-only-password"}))
    _airflow(env, "db", "migrate")
    logs = home / "process-logs"
    logs.mkdir()
    processes = []
    for name, args in (("api-server", ["api-server", "--port", str(api_port)]), ("dag-processor", ["dag-processor"]),
                       ("scheduler", ["scheduler"])):
        log = open(logs / f"{name}.log", "w")
        processes.append((subprocess.Popen([str(Path(sys.executable).with_name("airflow")), *args], env=env,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
    env["E2E_API"] = f"http://127.0.0.1:{api_port}"
    yield env, with_database(airflow_url, "airflow_e2e"), with_database(url, "smarketing_e2e", "postgresql"), logs
    for process, _ in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process, log in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    hubspot.stop()
    salesforce.stop()
    mailchimp.stop()


def _runs(metadata: str) -> dict[str, list[str]]:
    with psycopg.connect(metadata) as conn:
        rows = conn.execute("select dag_id, state from dag_run order by id").fetchall()
    runs: dict[str, list[str]] = {}
    for dag_id, state in rows:
        runs.setdefault(dag_id, []).append(state)
    return runs


def _wait(predicate, what: str, logs: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(3)
    tails = {p.name: p.read_text()[-3000:] for p in logs.iterdir()}
    raise AssertionError(f"timed out waiting for {what}; process logs:\n{json.dumps(tails, indent=1)}")


def test_triggering_extract_runs_the_whole_asset_chain(stack):
    env, metadata, warehouse, logs = stack

    def parsed() -> bool:
        with psycopg.connect(metadata) as conn:
            found = {r[0] for r in conn.execute("select dag_id from dag where not is_stale")}
        return set(CHAIN) <= found

    _wait(parsed, "the dag-processor to parse the four DAGs", logs)
    for dag_id in CHAIN:
        _airflow(env, "dags", "unpause", dag_id)
    _airflow(env, "dags", "trigger", "smarketing_extract", "--conf", json.dumps({"as_of": demo_story.AS_OF}))

    def finished() -> bool:
        runs = _runs(metadata)
        failed = {d: s for d, s in runs.items() if "failed" in s}
        assert not failed, f"failed runs: {failed}"
        return all("success" in runs.get(dag_id, []) for dag_id in CHAIN)

    _wait(finished, "the Asset chain to finish", logs)
    runs = _runs(metadata)
    assert runs["smarketing_extract"] == ["success"], "only the one triggered extract run"

    with psycopg.connect(warehouse) as conn:
        june = conn.execute("select leads, mqls, sqls, opportunities, won, won_amount from marts.funnel"
                            " where month = '2026-06-01' and channel = 'all'").fetchone()
        members = [r[0] for r in conn.execute("select email from nurture.list_members"
                                              " where program = 'recent_customers' order by email")]
    assert dict(zip(demo_story.JUNE_FUNNEL, june, strict=True)) == demo_story.JUNE_FUNNEL
    assert members == ["ada@analytical.io", "claude@entropy.info", "hedy@spread.fm"]


def test_the_ui_shows_the_report_and_data_docs_to_a_signed_in_user_only(stack):
    """After the chain (the test above), through the real api-server and its plugin."""
    import requests

    env, metadata, _, _ = stack
    api = env["E2E_API"]
    assert requests.get(f"{api}/smarketing/reports/latest", timeout=30).status_code == 401
    token = requests.post(f"{api}/auth/token", json={"username": "analyst", "password": "e2e-only-password"},
                          timeout=30).json()["access_token"]
    signed_in = {"Authorization": f"Bearer {token}"}
    report = requests.get(f"{api}/smarketing/reports/latest", headers=signed_in, timeout=30)
    assert report.status_code == 200 and f"KPIs as of {demo_story.AS_OF}" in report.text
    docs = requests.get(f"{api}/smarketing/data-docs/index.html", headers=signed_in, timeout=30)
    assert docs.status_code == 200 and "validation runs" in docs.text
    plugins = requests.get(f"{api}/api/v2/plugins", headers=signed_in, timeout=30).json()["plugins"]
    (ours,) = [p for p in plugins if p["name"] == "smarketing"]
    assert {v["name"] for v in ours["external_views"]} == {"KPI report", "Data Docs"}
    # the scheduler took every DAG's deadline alert (they fire from the triggerer)
    with psycopg.connect(metadata) as conn:
        with_deadline = {r[0] for r in conn.execute(
            "select distinct s.dag_id from deadline_alert as a join serialized_dag as s on s.id = a.serialized_dag_id")}
    assert with_deadline == set(CHAIN)

