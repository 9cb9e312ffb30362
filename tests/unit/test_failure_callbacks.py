import logging
from types import SimpleNamespace

from smarketing.dag_support import failure_callbacks, notify_failure


def test_failures_are_logged_with_dag_task_run_and_reason(caplog):
    ti = SimpleNamespace(dag_id="smarketing_transform", task_id="validate")
    with caplog.at_level(logging.ERROR):
        notify_failure({"task_instance": ti, "run_id": "manual__1", "exception": ValueError("suite x: 2 of 20")})
    assert caplog.messages == [
        "smarketing task failed: dag=smarketing_transform task=validate run=manual__1 error=suite x: 2 of 20"]


def test_an_email_notifier_joins_when_alert_recipients_are_set(monkeypatch):
    monkeypatch.delenv("SMARKETING_ALERT_EMAIL", raising=False)
    assert failure_callbacks() == [notify_failure]
    monkeypatch.setenv("SMARKETING_ALERT_EMAIL", "data@example.com, oncall@example.com")
    callbacks = failure_callbacks()
    assert callbacks[0] is notify_failure
    assert type(callbacks[1]).__name__ == "SmtpNotifier"
    assert callbacks[1].to == ["data@example.com", "oncall@example.com"]
