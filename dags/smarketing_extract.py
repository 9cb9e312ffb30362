"""
### Smarketing · extract

Lands marketing-automation (HubSpot) and CRM (Salesforce) records into `raw.<system>__<entity>`,
incrementally from each entity's cursor in `meta.sync_state`, one mapped task per system (the
`resync` Param reads chosen entities again from the beginning, and lands what the source no
longer has as deletions). Each
page commits together with its cursor, so a failed or repeated run never loses or duplicates a
row. New files of the drops in `config/file_drops.yaml` land in `raw.file__<entity>`, each file
once (by checksum) and whole or not at all.

Runs daily (`SMARKETING_EXTRACT_SCHEDULE` sets another cron, or `none` for manual runs only).
First applies pending warehouse migrations. Publishes the `smarketing_raw` Asset with the run's
`as_of` date, which schedules **smarketing_transform**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from smarketing.dag_support import DEFAULT_ARGS, EXTRACT_PARAMS, RAW, deadline, extract_schedule, final_on_bad_input


@dag(
    schedule=extract_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smarketing", "extract"],
    default_args=DEFAULT_ARGS,
    params=EXTRACT_PARAMS,
    description="Land HubSpot, Salesforce and file-drop records into raw, incrementally; schedules the transform",
    doc_md=__doc__,
    deadline=deadline("smarketing_extract"),
)
def smarketing_extract():
    @task
    def migrate() -> list[str]:
        from smarketing import tasks

        with final_on_bad_input():  # an invalid config or an unsafe warehouse: no retry cures it
            return tasks.migrate()

    @task
    def list_systems(**context) -> list[str]:
        from smarketing.sources import check_resync, systems

        with final_on_bad_input():  # a resync naming nothing configured fails here, before any landing
            check_resync(list(context["params"].get("resync") or []))
        return systems()

    @task(map_index_template="{{ task.op_kwargs['system'] }}")
    def extract(system: str, **context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        with final_on_bad_input():
            return tasks.extract(system, context["run_id"], resolve_as_of(context),
                                 resync=list(context["params"].get("resync") or []))

    @task
    def load_file_drops(**context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        with final_on_bad_input():
            return tasks.load_file_drops(context["run_id"], resolve_as_of(context))

    @task(outlets=[RAW], trigger_rule="none_failed")  # runs when no system is configured (files only)
    def publish_raw(**context) -> str:
        from smarketing.runs import resolve_as_of

        as_of = resolve_as_of(context).isoformat()
        context["outlet_events"][RAW].extra = {"as_of": as_of}
        return as_of

    systems = list_systems()
    schema = migrate()
    schema >> systems
    [extract.expand(system=systems), schema >> load_file_drops()] >> publish_raw()


smarketing_extract()
