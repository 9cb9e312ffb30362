"""What the four DAGs share: the Assets that chain them, default args, the as-of Param.

The only library module that needs Airflow; everything else imports without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, Param

log = logging.getLogger(__name__)

RAW = Asset(name="smarketing_raw", uri="smarketing://warehouse/raw")
CORE = Asset(name="smarketing_core", uri="smarketing://warehouse/core")
MARTS = Asset(name="smarketing_marts", uri="smarketing://warehouse/marts")
NURTURE = Asset(name="smarketing_nurture", uri="smarketing://warehouse/nurture")


@contextmanager
def final_on_bad_input() -> Iterator[None]:
    """Fail the task at once, without retries, on errors a retry cannot cure: invalid
    configuration, rejected credentials, a program that cannot be built, a file rejected whole,
    data or marts that fail their checks, a push the suppression guard stopped. Each message says what to fix."""
    from smarketing.config import ConfigError
    from smarketing.file_drops import FileDropError
    from smarketing.kpis import MartCheckError
    from smarketing.nurture.destinations import UnsafePush
    from smarketing.nurture.lists import NurtureError
    from smarketing.quality import DataQualityError
    from smarketing.sources.http_client import AuthError

    try:
        yield
    except (ConfigError, AuthError, NurtureError, FileDropError, DataQualityError, UnsafePush, MartCheckError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc} (not retried: a retry cannot cure this)") from exc


def notify_failure(context: dict[str, Any]) -> None:
    """Failure callback: one log line a person can act on (the message names what failed and why)."""
    ti = context.get("task_instance")
    log.error(
        "smarketing task failed: dag=%s task=%s run=%s error=%s",
        getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?"), context.get("run_id"), context.get("exception"),
    )


def failure_callbacks() -> list[Any]:
    """The log always; an e-mail when ``SMARKETING_ALERT_EMAIL`` is set (through the SMTP connection
    ``smtp_default``, e.g. ``AIRFLOW_CONN_SMTP_DEFAULT``); a Slack message when
    ``SMARKETING_ALERT_SLACK_CONN`` names a Slack incoming-webhook connection."""
    callbacks: list[Any] = [notify_failure]
    recipients = _recipients()
    if recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        callbacks.append(SmtpNotifier(
            to=recipients,
            from_email=os.environ.get("SMARKETING_ALERT_FROM") or None,
            subject="[smarketing] {{ ti.dag_id }}.{{ ti.task_id }} failed",
            html_content="<p>Run {{ run_id }}: {{ exception }}</p><p>Log: {{ ti.log_url }}</p>",
        ))
    slack = _slack_conn()
    if slack:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        callbacks.append(SlackWebhookNotifier(
            slack_webhook_conn_id=slack,
            text="smarketing {{ ti.dag_id }}.{{ ti.task_id }} failed, run {{ run_id }}: {{ exception }}"))
    return callbacks


async def deadline_missed(context: dict[str, Any], **kwargs: Any) -> None:
    """Deadline callback, run by the triggerer: one log line a person can act on."""
    run = context.get("dag_run")
    log.error("smarketing %s run %s is not done %s after it was queued: look at its running task's log",
              kwargs.get("dag_id") or getattr(run, "dag_id", "?"), getattr(run, "run_id", "?"),
              kwargs.get("budget", "its deadline"))


def deadline(dag_id: str) -> list[Any]:
    """Every DAG run must finish within ``SMARKETING_DEADLINE_MINUTES`` (120) of being queued, or the
    triggerer logs it, and mails it (``SMARKETING_ALERT_EMAIL``) or posts it to Slack
    (``SMARKETING_ALERT_SLACK_CONN``) when those are set: a stalled stage is reported while it
    stalls, not only when a task's timeout finally fails it."""
    from airflow.sdk.definitions.callback import AsyncCallback  # airflow.sdk exports them lazily (mypy cannot see)
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    budget = _minutes("SMARKETING_DEADLINE_MINUTES", 120)
    alerts = [DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=budget, name=f"{dag_id} late",
                            callback=AsyncCallback("smarketing.dag_support.deadline_missed",
                                                   kwargs={"dag_id": dag_id, "budget": str(budget)}))]
    recipients = _recipients()
    if recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        alerts.append(DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=budget, name=f"{dag_id} late (mail)",
            callback=AsyncCallback(SmtpNotifier, kwargs={
                "to": recipients, "from_email": os.environ.get("SMARKETING_ALERT_FROM") or None,
                "subject": f"[smarketing] {dag_id} is late",
                "html_content": f"<p>{dag_id} is not done {budget} after it was queued.</p>"})))
    slack = _slack_conn()
    if slack:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        alerts.append(DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=budget, name=f"{dag_id} late (Slack)",
            callback=AsyncCallback(SlackWebhookNotifier, kwargs={
                "slack_webhook_conn_id": slack,
                "text": f"smarketing {dag_id} is not done {budget} after it was queued"})))
    return alerts


def _recipients() -> list[str]:
    return [r.strip() for r in os.environ.get("SMARKETING_ALERT_EMAIL", "").split(",") if r.strip()]


def _slack_conn() -> str | None:
    return os.environ.get("SMARKETING_ALERT_SLACK_CONN", "").strip() or None


def _minutes(name: str, default: int) -> timedelta:
    """A duration in minutes from the environment (read at parse time), a positive whole number."""
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"{name}={raw!r}: a positive whole number of minutes, e.g. {default}")
    return timedelta(minutes=int(raw))


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "on_failure_callback": failure_callbacks(),
    # a task that hangs (a source that stops answering, a lock never released) fails instead of waiting forever
    "execution_timeout": _minutes("SMARKETING_TASK_TIMEOUT_MINUTES", 180),
}


def extract_schedule() -> str | None:
    """The extract DAG's schedule: ``SMARKETING_EXTRACT_SCHEDULE`` (a cron or preset, ``none`` for
    manual runs only), daily by default. Read at parse time from the environment only."""
    value = os.environ.get("SMARKETING_EXTRACT_SCHEDULE", "@daily").strip()
    return None if value.lower() in ("", "none") else value


PARAMS = {
    "as_of": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Business date (YYYY-MM-DD) the run is for. Empty: taken from the triggering "
        "Asset event, else the end of the data interval.",
    )
}
# The extract DAG's own: read entities again from the beginning.
EXTRACT_PARAMS = {
    **PARAMS,
    "resync": Param(
        [],
        type="array",
        items={"type": "string", "pattern": "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)?$"},
        description="Entities to read again from the beginning, as system.entity (salesforce.opportunities) or a"
        " whole system (hubspot); records the source no longer has at all land as deletions. The others"
        " go on from their cursors.",
    ),
}
# The transform DAG's own: recompute core from every landed row instead of what changed.
TRANSFORM_PARAMS = {
    **PARAMS,
    "full_refresh": Param(
        False,
        type="boolean",
        description="Recompute core from every landed row (after changing identity rules or core SQL). "
        "Off: only what changed since the last merge; both give the same core.",
    ),
}
