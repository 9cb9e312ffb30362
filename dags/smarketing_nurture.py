"""
### Smarketing · nurture

Scheduled on the `smarketing_marts` Asset. Rebuilds `nurture.suppressed` (unsubscribed, hard
bounced, spam complaints, email opt-outs, no address), then builds each program of
`config/nurture.yaml` for the run's as-of date with suppression applied, and writes one CSV per
program to `exports/nurture/<program>_<as_of>.csv` (atomically; a rerun rewrites the same file).

Publishes `smarketing_nurture`. Then writes the KPI report again with the day's lists, and mails it
to `SMARKETING_REPORT_EMAIL` when set (skipped when the marts are of another date: lists run alone
for an earlier date).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from smarketing.dag_support import DEFAULT_ARGS, MARTS, NURTURE, PARAMS, deadline, final_on_bad_input


@dag(
    schedule=[MARTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smarketing", "nurture", "email"],
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    description="Build the after-sales nurture lists with suppression applied; export and push them",
    doc_md=__doc__,
    deadline=deadline("smarketing_nurture"),
)
def smarketing_nurture():
    @task(outlets=[NURTURE])
    def build_lists(**context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        as_of = resolve_as_of(context)
        with final_on_bad_input():
            stats = tasks.build_nurture_lists(context["run_id"], as_of)
        context["outlet_events"][NURTURE].extra = {"as_of": as_of.isoformat()}
        return stats

    @task
    def update_report(**context) -> str:
        from airflow.sdk.exceptions import AirflowSkipException

        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        as_of = resolve_as_of(context)
        with final_on_bad_input():
            path = tasks.report_after_lists(as_of)
        if path is None:  # lists of another date than the marts (--only nurture): the report stays
            raise AirflowSkipException(f"the marts are not as of {as_of}: the KPI report is left as it is")
        return path

    build_lists() >> update_report()


smarketing_nurture()
