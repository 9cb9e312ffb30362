import logging
from types import SimpleNamespace

import pytest

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


def test_errors_a_retry_cannot_cure_fail_the_task_at_once_and_others_are_retried():
    from airflow.sdk.exceptions import AirflowFailException

    from smarketing.config import ConfigError
    from smarketing.dag_support import final_on_bad_input
    from smarketing.nurture.lists import DeliveryError
    from smarketing.sources.http_client import AuthError

    for final in (ConfigError("config/nurture.yaml: unknown key 'supression'"), AuthError("HTTP 401", 401)):
        with pytest.raises(AirflowFailException, match="not retried") as raised, final_on_bad_input():
            raise final
        assert raised.value.__cause__ is final
    for passing in (DeliveryError("program x: could not write /exports/x.csv: No space left"), OSError("disk")):
        with pytest.raises(type(passing)), final_on_bad_input():
            raise passing
