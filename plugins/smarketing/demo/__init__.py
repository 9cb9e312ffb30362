"""The demo world, apart from the real connectors: ``world`` (the seeded dataset and its ground
truth), ``fakes`` (HubSpot and Salesforce API fakes serving it over HTTP) and, here, the runner.

The runner runs the whole pipeline through Airflow on the demo data, in one process.

Airflow's metadata lives on SQLite under a project-local ``AIRFLOW_HOME`` (``.airflow/``);
each DAG runs with ``dag.test()`` in chain order, which pays Airflow's start-up cost once.
With a real scheduler the Asset chain triggers the same DAGs by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from smarketing.config import PATHS

DAG_ORDER = ("smarketing_extract", "smarketing_transform", "smarketing_kpis", "smarketing_nurture")


@dataclass
class DagOutcome:
    dag_id: str
    state: str
    seconds: float


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


def start_fake_apis() -> list[str]:
    """Serve the demo dataset through local fakes of the HubSpot and Salesforce APIs and point the
    connections at them, so the demo runs the production connectors over real HTTP."""
    from smarketing.demo.fakes import start_demo_fakes
    from smarketing.sources import demo_dataset_of

    hubspot, salesforce, env = start_demo_fakes(demo_dataset_of())
    os.environ.update(env)
    return [hubspot.url, salesforce.url]


def run_dags(as_of: date, dag_ids: tuple[str, ...] = DAG_ORDER) -> list[DagOutcome]:
    """Run each DAG once with ``dag.test()`` for ``as_of``; stops at the first failed DAG."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    logical_date = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    outcomes = []
    for dag_id in dag_ids:
        started = time.monotonic()
        run = bag.dags[dag_id].test(logical_date=logical_date, run_conf={"as_of": as_of.isoformat()})
        state = str(getattr(run.state, "value", run.state))
        outcomes.append(DagOutcome(dag_id, state, time.monotonic() - started))
        if state != "success":
            break
    return outcomes
