"""The HTTP client every API source uses: retries that understand the failure, and a call budget.

- 429: wait for ``Retry-After`` (seconds), else back off, and try again;
- 5xx, timeouts, dropped connections, truncated or invalid JSON: exponential backoff with jitter;
- 401/403: fail at once with a message naming the connection (after one token refresh, when the
  source can refresh);
- other 4xx: fail at once with the API's own message;
- every request spends one call of the run's budget, so one run cannot exhaust a daily quota.

Nothing here logs a header, a token or a response body.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from smarketing.sources.base import SourceError

log = logging.getLogger(__name__)


class ApiError(SourceError):
    """The API refused the request for a reason retrying does not fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """Credentials missing, wrong, expired beyond refresh, or lacking a scope."""


class BudgetExceeded(SourceError):
    """The run spent its API call budget; the next run resumes from the committed cursor."""


class RetriesExhausted(SourceError):
    """A transient failure (429, 5xx, timeout, bad JSON) outlasted every retry."""


@dataclass
class CallBudget:
    """At most ``limit`` API calls in one run."""

    limit: int
    spent: int = 0

    def spend(self, what: str) -> None:
        if self.spent >= self.limit:
            raise BudgetExceeded(
                f"{what}: the run's API call budget of {self.limit} calls is spent; raise max_calls_per_run in "
                "the connection's extra, or let the next run continue from the committed cursor"
            )
        self.spent += 1


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)]."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class HttpClient:
    """JSON over HTTP for one API connection.

    ``authorize`` returns the headers that carry the credentials; ``refresh`` (optional) gets a
    new token after a 401 and returns whether it did.
    """

    system: str
    conn_id: str
    base_url: str
    authorize: Callable[[], dict[str, str]]
    budget: CallBudget
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    refresh: Callable[[], bool] | None = None
    secrets: tuple[str, ...] = ()  # credentials the headers carry encoded (an API key in basic auth)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        what = f"{self.system} {method} {describe(path)}"
        refreshed = False
        last_problem = ""
        for attempt in range(self.policy.max_attempts):
            self.budget.spend(what)
            try:
                response = self.session.request(
                    method, url, params=params, json=json, timeout=self.policy.timeout,
                    headers={**(headers or {}), **self.authorize(), "Accept": "application/json"},
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = type(exc).__name__
                self._wait(what, attempt, self.policy.backoff(attempt), last_problem)
                continue

            status = response.status_code
            if status == 429:
                last_problem = "HTTP 429"
                self._wait(what, attempt, self._retry_after(response, attempt), last_problem)
                continue
            if status >= 500:
                last_problem = f"HTTP {status}"
                self._wait(what, attempt, self.policy.backoff(attempt), last_problem)
                continue
            if status == 401 and self.refresh is not None and not refreshed:
                refreshed = self.refresh()
                if refreshed:
                    continue
            if status in (401, 403):
                raise AuthError(
                    f"{self.system} rejected the credentials of connection '{self.conn_id}' (HTTP {status}: "
                    f"{self._redact(_api_message(response))}); check the token and its scopes in "
                    f"AIRFLOW_CONN_{self.conn_id.upper()}",
                    status,
                )
            if status >= 400:
                raise ApiError(f"{what} failed with HTTP {status}: {self._redact(_api_message(response))}", status)
            try:
                return response.json()
            except ValueError:
                last_problem = "a truncated or invalid JSON body"
                self._wait(what, attempt, self.policy.backoff(attempt), last_problem)
        raise RetriesExhausted(f"{what}: still failing after {self.policy.max_attempts} attempts ({last_problem})")

    def _redact(self, message: str) -> str:
        """``message`` without the credentials this client sends (an API may echo its headers)."""
        for value in [*self.authorize().values(), *self.secrets]:
            for secret in (value, value.split(" ", 1)[-1]):
                if len(secret) >= 6:
                    message = message.replace(secret, "***")
        return message

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        try:
            return min(float(response.headers.get("Retry-After", "")), self.policy.max_delay)
        except ValueError:
            return self.policy.backoff(attempt)

    def _wait(self, what: str, attempt: int, seconds: float, problem: str) -> None:
        if attempt + 1 < self.policy.max_attempts:
            log.warning("%s: %s, retrying in %.1f s (attempt %d of %d)", what, problem, seconds, attempt + 1,
                        self.policy.max_attempts)
            self.sleep(seconds)


def describe(path: str) -> str:
    """The call as logs and errors name it: without query, and a path segment holding an address
    (HubSpot's ``/status/email/{email}``) shown as ``{email}``."""
    segments = path.split("?", 1)[0].split("/")
    return "/".join("{email}" if "@" in s or "%40" in s.lower() else s for s in segments)


class _PathRedaction(logging.Filter):
    """urllib3 logs every request's path at DEBUG: drop its query and any address in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(describe(a) if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_PathRedaction())


def _api_message(response: requests.Response) -> str:
    """The API's own error message (HubSpot: {"message"}, Salesforce: [{"message", "errorCode"}],
    Mailchimp: {"title", "detail"})."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "no message"
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return "; ".join(f"{e.get('errorCode', '')}: {e.get('message', '')}".strip(": ") for e in body)
    if isinstance(body, dict):
        if body.get("title") and body.get("detail"):
            return f"{body['title']}: {body['detail']}"[:300]
        return str(body.get("message") or body.get("error_description") or body.get("error") or body)[:300]
    return str(body)[:300]
