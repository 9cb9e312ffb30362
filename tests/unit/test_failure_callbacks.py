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


def test_a_slack_message_joins_when_a_webhook_connection_is_named_and_reaches_it(monkeypatch):
    """Over real HTTP to a fake Slack incoming webhook, as Slack's provider posts it."""
    import http.server
    import json
    import threading

    received = []

    class Webhook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # http.server calls it by this name
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("SMARKETING_ALERT_EMAIL", raising=False)
    monkeypatch.delenv("SMARKETING_ALERT_SLACK_CONN", raising=False)
    assert failure_callbacks() == [notify_failure]
    monkeypatch.setenv("SMARKETING_ALERT_SLACK_CONN", "slack_alerts")
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({
        "conn_type": "slackwebhook", "password": f"http://127.0.0.1:{server.server_address[1]}/services/T1/B2/x"}))
    try:
        _, slack = failure_callbacks()
        ti = SimpleNamespace(dag_id="smarketing_nurture", task_id="build_lists")
        slack({"ti": ti, "task_instance": ti, "run_id": "scheduled__1", "exception": "HubSpot answered 503"})
    finally:
        server.shutdown()
    ((path, body),) = received
    assert path == "/services/T1/B2/x"
    assert body["text"] == "smarketing smarketing_nurture.build_lists failed, run scheduled__1: HubSpot answered 503"
