"""Run bookkeeping: which business date a run is for, and what each stage did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, text


def resolve_as_of(context: Mapping[str, Any]) -> date:
    """The business date of a run, never the wall clock of the worker.

    In order: the ``as_of`` Param (manual runs, backfills, the demo); the ``as_of`` that the
    upstream DAG put on the triggering Asset event (Asset-triggered runs have no data
    interval); the end of the run's data interval (scheduled runs); the run's ``run_after``.
    """
    params = context.get("params") or {}
    if params.get("as_of"):
        return date.fromisoformat(str(params["as_of"]))
    events = context.get("triggering_asset_events") or {}
    found = [
        str(event.extra["as_of"])
        for asset_events in events.values()
        for event in asset_events
        if (getattr(event, "extra", None) or {}).get("as_of")
    ]
    if found:
        return max(date.fromisoformat(d) for d in found)
    interval_end = context.get("data_interval_end")
    if interval_end is not None:
        return interval_end.date()
    dag_run = context.get("dag_run")
    if dag_run is not None and getattr(dag_run, "run_after", None) is not None:
        return dag_run.run_after.date()
    raise ValueError("cannot tell the run's as-of date: pass the 'as_of' param (YYYY-MM-DD)")


def record_run(eng: Engine, run_id: str, stage: str, as_of: date | None, started_at: datetime,
               stats: Mapping[str, Any]) -> None:
    """Upsert the stage's row in ``meta.runs`` (a retried task overwrites its own record)."""
    with eng.begin() as conn:
        conn.execute(
            text(
                "insert into meta.runs (run_id, stage, as_of, started_at, finished_at, stats)"
                " values (:run_id, :stage, :as_of, :started_at, :finished_at, cast(:stats as jsonb))"
                " on conflict (run_id, stage) do update set"
                " as_of = excluded.as_of, started_at = excluded.started_at, finished_at = excluded.finished_at,"
                " stats = excluded.stats"
            ),
            {"run_id": run_id, "stage": stage, "as_of": as_of, "started_at": started_at,
             "finished_at": datetime.now(UTC),
             "stats": json.dumps(stats, default=str)},
        )
