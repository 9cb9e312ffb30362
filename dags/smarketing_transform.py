"""
### Smarketing · transform

Scheduled on the `smarketing_raw` Asset.

1. **validate**: runs the Great Expectations suites in `expectations/` over every newly landed
   batch, in the warehouse. Rows failing a critical expectation go to `quarantine.records` with
   the reason; a suite with too large a share of failing rows holds its batches back (nothing of
   them reaches core, though what they say of a mailbox already suppresses it).
2. **merge**: promotes the validated batches of every other suite into staging and merges what
   changed into `core.*`: identity resolution gives one stable `person_id` per human across
   HubSpot, Salesforce and file drops. Trigger with `full_refresh` on to recompute core from
   every landed row. Then cross-entity checks over core, as warnings.
3. **quality_gate**: fails the run, naming each held suite and its failing checks, after the
   merge (so one bad export delays only its own rows).

Publishes `smarketing_core`, which schedules **smarketing_kpis**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from smarketing.dag_support import CORE, DEFAULT_ARGS, RAW, TRANSFORM_PARAMS, deadline, final_on_bad_input


@dag(
    schedule=[RAW],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smarketing", "transform", "data-quality"],
    default_args=DEFAULT_ARGS,
    params=TRANSFORM_PARAMS,
    description="Validate new batches, quarantine bad rows, merge them into core and resolve identities",
    doc_md=__doc__,
    deadline=deadline("smarketing_transform"),
)
def smarketing_transform():
    @task
    def validate(**context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        with final_on_bad_input():
            return tasks.validate(context["run_id"], resolve_as_of(context))

    @task(outlets=[CORE])
    def merge(**context) -> dict:
        from smarketing import tasks
        from smarketing.runs import resolve_as_of

        as_of = resolve_as_of(context)
        with final_on_bad_input():
            stats = tasks.merge(context["run_id"], as_of, full=bool(context["params"].get("full_refresh")))
        context["outlet_events"][CORE].extra = {"as_of": as_of.isoformat()}
        return stats

    @task(trigger_rule="all_done")
    def quality_gate(validated: dict, merged: dict | None) -> None:
        from smarketing import tasks

        with final_on_bad_input():
            tasks.quality_gate(validated, merged)

    validated = validate()
    merged = merge()
    validated >> merged  # the merge promotes only what validation passed
    quality_gate(validated, merged)


smarketing_transform()
