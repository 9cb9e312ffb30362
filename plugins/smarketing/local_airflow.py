"""Running the four DAGs in one process, through Airflow, without a scheduler (``smarketing run``
and ``smarketing demo``).

Airflow's metadata lives on SQLite under a project-local ``AIRFLOW_HOME`` (``.airflow/``); each
DAG runs with ``dag.test()`` in chain order, which pays Airflow's start-up cost once. With a real
scheduler the Asset chain triggers the same DAGs by itself.

A run's business date travels as the ``as_of`` Param; its logical date is the wall clock, so a
date before the DAGs' ``start_date`` still runs every task (a logical date before it ran none
and reported success).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from smarketing.config import PATHS

DAG_ORDER = ("smarketing_extract", "smarketing_transform", "smarketing_kpis", "smarketing_nurture")
STAGES = {dag_id.removeprefix("smarketing_"): dag_id for dag_id in DAG_ORDER}


@dataclass
class DagOutcome:
    dag_id: str
    state: str
    seconds: float
    tasks: dict[str, int] = field(default_factory=dict)  # task state -> task instances

    @property
    def ok(self) -> bool:
        """Succeeded, ran at least one task, and none failed (a task whose trigger rule lets it run
        after a failure may still end the run in success)."""
        return (self.state == "success" and self.tasks.get("success", 0) > 0
                and not self.tasks.get("failed") and not self.tasks.get("upstream_failed"))

    def problem(self) -> str:
        if self.state == "success" and not self.tasks.get("success"):
            return "no task ran"
        failed = {s: n for s, n in self.tasks.items() if s in ("failed", "upstream_failed")}
        return ", ".join(f"{n} task(s) {s}" for s, n in sorted(failed.items())) or self.state


def airflow_env(home: Path, root: Path = PATHS.root) -> dict[str, str]:
    """Environment for a project-local Airflow: SQLite metadata, our DAGs and plugins, no examples."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
    }


def prepare_airflow(home: Path) -> None:
    """Point this process at ``home`` and create or upgrade its metadata DB. Call before importing airflow."""
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        raise RuntimeError("airflow was imported before prepare_airflow(); its settings are already fixed")
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(home))
    airflow_bin = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow_bin), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())


def run_dags(as_of: date, dag_ids: tuple[str, ...] = DAG_ORDER, conf: dict[str, Any] | None = None,
             on_done: Callable[[DagOutcome], None] | None = None) -> list[DagOutcome]:
    """Run each DAG once with ``dag.test()`` for the business date ``as_of`` (``conf`` adds Params);
    ``on_done`` hears of each DAG as it finishes.
    The chain goes on as the Asset schedule would: while each DAG's tasks that publish an Asset
    succeeded (the transform's merge publishes its Asset before its quality gate may fail the run);
    it stops at a DAG that ran no task or published nothing."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    outcomes = []
    for dag_id in dag_ids:
        started = time.monotonic()
        dag = bag.dags[dag_id]
        # No triggerer here to fire deadline alerts, and dag.test() of Airflow 3.3.2 fails at the end of
        # a successful run that has them (DagRun.update_state looks the alerts up by id, dag.test
        # hands it the alerts themselves): the scheduler's runs keep them (make test-e2e).
        dag.deadline = None
        params = {"as_of": as_of.isoformat(), **{k: v for k, v in (conf or {}).items() if k in dag.params}}
        run = dag.test(logical_date=datetime.now(UTC), run_conf=params)
        instances = _task_states(dag_id, run.run_id)
        states = dict(instances)  # a mapped task: the state of its last instance
        counts: dict[str, int] = {}
        for _, state in instances:
            counts[state] = counts.get(state, 0) + 1
        outcome = DagOutcome(dag_id, str(getattr(run.state, "value", run.state)), time.monotonic() - started, counts)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
        published = all(states.get(t.task_id) == "success" for t in dag.tasks if t.outlets)
        if not outcome.ok and not (published and counts.get("success")):
            break
    return outcomes


def _task_states(dag_id: str, run_id: str) -> list[tuple[str, str]]:
    """(task id, state) of every task instance of one DAG run, mapped ones in map index order."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).order_by(TaskInstance.map_index)).all()
    return [(task_id, str(getattr(state, "value", state))) for task_id, state in rows]
