"""Mailchimp Marketing API v3: what an audience says about its members' consent, as a source.

Entities of the audience ``audience_id`` (config/sources.yaml, kind ``mailchimp``):

- ``members``: each member's status (subscribed, unsubscribed, cleaned, pending, transactional,
  archived), read incrementally by ``last_changed``. The API pages by offset only, so each page
  starts from the last page's latest change (``since_last_changed``, less a second: the bound is
  exclusive) and skips the members of that second already read: a member changing while the
  audience is read moves to the end instead of shifting another one out of a page.
- ``abuse_reports``: spam complaints about the audience's campaigns, read whole every run: a
  report can reach the API hours after its date, behind the cursor; landing keeps each once.

Suppression reads them (``sql/core/mailbox_consent.sql``): unsubscribed is an unsubscribe,
cleaned a hard bounce, pending no consent yet, an abuse report a spam complaint.

Connection ``mailchimp_default``: the API key as password; its suffix names the data center
(``...-us21`` is https://us21.api.mailchimp.com); ``host`` overrides it. HTTP basic auth, as
Mailchimp documents for API keys. ``extra.page_size`` (at most 1000), ``extra.max_calls_per_run``.

    AIRFLOW_CONN_MAILCHIMP_DEFAULT='{"conn_type": "http", "password": "<api key>-us21"}'
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from smarketing.config import ConnectionInfo, get_connection
from smarketing.sources.base import RawRecord, SourceError
from smarketing.sources.http_client import AuthError, CallBudget, HttpClient, RetryPolicy

CONN_ID = "mailchimp_default"
ENTITIES = ("members", "abuse_reports")
MAX_PAGE = 1000
MEMBER_FIELDS = ("id", "email_address", "status", "last_changed", "unsubscribe_reason", "timestamp_opt", "list_id")
DATA_CENTER = re.compile(r"-([a-z]{2,3}\d{1,3})$")


def client(conn: ConnectionInfo, policy: RetryPolicy | None = None, budget: CallBudget | None = None) -> HttpClient:
    """The HTTP client of a Mailchimp connection: the source reads through it, the push writes."""
    key = conn.password
    if not key:
        raise AuthError(f"Mailchimp connection '{conn.conn_id}' has no API key; set it as the password in "
                        f"{conn.env_var}")
    host = conn.host
    if not host:
        found = DATA_CENTER.search(key)
        if found is None:
            raise AuthError(f"Mailchimp connection '{conn.conn_id}': the API key does not end in its data center"
                            f" (-us21); set the host in {conn.env_var} (https://<dc>.api.mailchimp.com)")
        host = f"https://{found.group(1)}.api.mailchimp.com"
    header = "Basic " + base64.b64encode(f"smarketing:{key}".encode()).decode()
    return HttpClient(
        system="mailchimp", conn_id=conn.conn_id, base_url=host.rstrip("/").removesuffix("/3.0") + "/3.0",
        authorize=lambda: {"Authorization": header}, secrets=(key,),
        budget=budget or CallBudget(int(conn.extra.get("max_calls_per_run", 5000))),
        policy=policy or RetryPolicy(),
    )


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def api_time(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


class MailchimpSource:
    """A Mailchimp audience's members and abuse reports as ``Source`` entities."""

    name = "mailchimp"
    whole_on_full_read = ENTITIES  # a full read returns every member and report the audience keeps

    def __init__(self, conn: ConnectionInfo, audience_id: str, entities: tuple[str, ...] | None = None,
                 policy: RetryPolicy | None = None, budget: CallBudget | None = None) -> None:
        unknown = set(entities or ()) - set(ENTITIES)
        if unknown:
            raise SourceError(f"Mailchimp has no entity {sorted(unknown)}; known: {list(ENTITIES)}")
        self.entities = tuple(entities or ENTITIES)
        self.audience_id = audience_id
        self.client = client(conn, policy, budget)
        self.budget = self.client.budget
        self.page_size = max(1, min(int(conn.extra.get("page_size", MAX_PAGE)), MAX_PAGE))

    @classmethod
    def from_connection(cls, conn_id: str, audience_id: str, **kwargs: Any) -> MailchimpSource:
        return cls(get_connection(conn_id), audience_id, **kwargs)

    def extract(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]:
        if entity == "members":
            yield from self._members(since)
        elif entity == "abuse_reports":
            yield from self._abuse_reports(since)
        else:
            raise SourceError(f"Mailchimp has no entity {entity!r}; known: {list(ENTITIES)}")

    def _page(self, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = self.client.request("GET", f"/lists/{self.audience_id}{path}", params=params)
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SourceError(f"Mailchimp {path or 'audience'}: answer without a '{key}' list")
        return items

    def _members(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        after = since - timedelta(seconds=1) if since else None  # the API's bound is exclusive
        seen: dict[str, datetime] = {}
        offset = 0
        fields = ",".join(["total_items", *(f"members.{f}" for f in MEMBER_FIELDS)])
        while True:
            params: dict[str, Any] = {"count": self.page_size, "offset": offset, "sort_field": "last_changed",
                                      "sort_dir": "ASC", "fields": fields}
            if after is not None:
                params["since_last_changed"] = api_time(after)
            members = self._page("/members", "members", params)
            page = []
            for member in members:
                record = self._record(member, "last_changed")
                if seen.get(record.record_id) != record.version_at:
                    seen[record.record_id] = record.version_at
                    page.append(record)
            if page:
                yield sorted(page, key=lambda r: r.version_at)
            if len(members) < self.page_size:
                return
            latest = max(parse_time(m["last_changed"]) for m in members) - timedelta(seconds=1)
            if after is None or latest > after:
                after = latest  # the next page starts there, past the members of that second already read
                offset = sum(1 for at in seen.values() if at > after)
            else:  # a whole page changed within one second: page on within it
                offset += len(members)

    def _abuse_reports(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        offset, records = 0, []
        while True:
            reports = self._page("/abuse-reports", "abuse_reports", {"count": self.page_size, "offset": offset})
            records += [self._record(r, "date") for r in reports]
            if len(reports) < self.page_size:
                break
            offset += len(reports)
        if records:
            yield sorted(records, key=lambda r: r.version_at)

    @staticmethod
    def _record(item: Any, changed: str) -> RawRecord:
        try:
            return RawRecord(record_id=str(item["id"]), version_at=parse_time(item[changed]), payload=item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SourceError(f"Mailchimp record without a valid id and {changed} ({exc!r})") from exc
