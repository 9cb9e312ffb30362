"""
### Smarketing · KPIs

Scheduled on the `smarketing_core` Asset. Rebuilds the BI marts in `marts.*` from core in one
transaction (BI never sees a half-built mart), then checks them (no negative counts, contiguous
months). A failed check fails the task and publishes nothing. Then writes the KPI report of the
new marts (`reports/kpis_<as_of>.html`; its path is in the task log and under Browse → KPI report).

Publishes `smarketing_marts`, which schedules **smarketing_nurture**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from smarketing.dag_support import CORE, DEFAULT_ARGS, MARTS, PARAMS, deadline, final_on_bad_input


@dag(
    schedule=[CORE],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smarketing", "kpis", "marts"],
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    description="Rebuild the shared KPI marts from core for the run's as-of date",
    doc_md=__doc__,
    deadline=deadline("smarketing_kpis"),
)
def smarketing_kpis():
    @task(outlets=[MARTS])
    def refresh_marts(**context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        as_of = resolve_as_of(context)
        with final_on_bad_input():
            stats = tasks.refresh_kpis(context["run_id"], as_of)
        context["outlet_events"][MARTS].extra = {"as_of": as_of.isoformat()}
        return stats

    @task
    def write_report(**context) -> str:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        with final_on_bad_input():
            return tasks.write_kpi_report(resolve_as_of(context))

    refresh_marts() >> write_report()


smarketing_kpis()
