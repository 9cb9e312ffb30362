"""A fake of the Mailchimp Marketing API v3 (base path ``/3.0``) for the audience connector.

Verified against Mailchimp's documentation (mailchimp.com/developer/marketing/...), its OpenAPI
definition as the official SDKs carry it (mailchimp-marketing-python ``lists_api.py``,
mailchimp-marketing-typescript-sdk ``src/api``) and, where the docs are silent, real answers
recorded from the service (grouparoo's nock fixtures, issue reports):

- auth: HTTP Basic, any user name, the API key as password (API keys use Basic; Bearer is for
  OAuth tokens, which this fake does not issue). No ``Authorization`` -> 401 "API Key Missing",
  anything else -> 401 "API Key Invalid";
- every error is a problem document (``application/problem+json``): type, title, status,
  detail, instance (plus ``errors`` for field errors), titles and details as Mailchimp sends
  them: "Resource Not Found", "Invalid Resource", "Member Exists", "Member In Compliance State",
  "Method Not Allowed" (with ``Allow``), "JSON Parse Error", "Too Many Requests",
  "Internal Server Error";
- ``GET /ping``: ``{"health_status": "Everything's Chimpy!"}``;
- ``GET /lists/{list_id}``: the audience with ``stats`` (member_count counts subscribed members,
  unsubscribe_count, cleaned_count; ``total_contacts`` with ``include_total_contacts=true``);
- ``POST /lists/{list_id}``: batch subscribe/unsubscribe, at most 500 ``members`` (more -> 400),
  ``update_existing``, ``skip_duplicate_check``; answers new_members, updated_members,
  errors [{email_address, error, error_code, field, field_message}], total_created,
  total_updated, error_count. An existing member without update_existing is an
  ERROR_CONTACT_EXISTS entry and is left alone; an invalid address, a bad status and a
  subscribe of a member in compliance state are ERROR_GENERIC entries, never changes;
- ``GET /lists/{list_id}/members``: ``count`` (default 10, at most 1000) and ``offset``,
  ``total_items``; filters ``status``, ``since_last_changed``/``before_last_changed`` and
  ``since_timestamp_opt``/``before_timestamp_opt`` (ISO 8601); ``sort_field`` (timestamp_opt,
  timestamp_signup, last_changed) and ``sort_dir`` (ASC, DESC);
- ``POST /lists/{list_id}/members`` (add only; an existing address -> 400 "Member Exists"),
  ``GET`` and ``PUT /lists/{list_id}/members/{subscriber_hash}`` (the MD5 hex of the lower-cased
  address; the address itself is accepted too). PUT adds (``status_if_new``) or updates
  (``status``, ``email_address``, ``merge_fields``). Subscribing a cleaned member, or one who
  unsubscribed themselves (``set_status``/``report_abuse``), -> 400 "Member In Compliance State";
  "pending" is allowed (Mailchimp's documented way back);
- tags are static segments: ``GET /lists/{list_id}/segments`` (``type`` saved/static/fuzzy,
  count/offset, total_items), ``POST /lists/{list_id}/segments`` ({name, static_segment}:
  addresses not in the audience are ignored, as documented; neither ``static_segment`` nor
  ``options`` -> 400), ``GET /lists/{list_id}/segments/{segment_id}``, its ``/members`` (paging;
  unsubscribed, cleaned and transactional members only with ``include_unsubscribed``,
  ``include_cleaned``, ``include_transactional``), ``POST /lists/{list_id}/segments/{segment_id}``
  (members_to_add / members_to_remove, at most 500 each; answers members_added, members_removed,
  errors [{email_addresses, error}], total_added, total_removed, error_count). Tags show in the
  member's ``tags`` [{id, name}] and ``tags_count``;
- ``GET /lists/{list_id}/abuse-reports``: count/offset, total_items; items id, campaign_id,
  list_id, email_id, email_address, merge_fields, vip, date. A complaint unsubscribes the member
  (Mailchimp: "The abuse complaint causes the recipient to be automatically unsubscribed");
- ``fields`` / ``exclude_fields`` (comma-separated, dot notation into sub-objects and arrays, so
  ``members.email_address``) on every GET; unknown names are ignored;
- at most ``max_connections`` (10, Mailchimp's limit per user) requests in flight: beyond that
  429 "You have exceeded the limit of 10 simultaneous connections." (``latency`` slows every
  answer so tests can hold connections open; ``peak_connections`` records the most seen);
  the base ``rate_limit`` and injected ``Fault``s still work (a fault without a body answers a
  Mailchimp problem document). Mailchimp sends no Retry-After or rate-limit headers;
- every change to a member sets its ``last_changed`` from ``now()`` (UTC, second precision,
  ``+00:00``); a request that changes nothing leaves it.

Not implemented: ``POST /batches`` (the connector uses the synchronous batch endpoints above),
PATCH and DELETE (archive), saved segments (``options``), interests, merge-field definitions,
OAuth and the legacy ``?apikey=`` parameter.

Assumed where neither the docs nor a recorded answer say: ``since_*``/``before_*`` are strict
(after / before); without ``sort_field`` members come in the order they were added; ``count``
above 1000 is capped, not refused; a bad query value or an unparseable date (an unescaped ``+``
arrives as a space) -> 400 "Invalid Resource"; a second static segment with the same name (case
ignored) -> 400; adding a member already in a segment or removing one not in it is neither a
change nor an error; addresses not in the audience in a segment batch are reported in ``errors``
(one entry per direction, wording ours, ``error_count`` counting addresses) and not added; a
change of tags updates the member's ``last_changed``; members unsubscribed through the API
("N/A (Unsubscribed by admin)") may be resubscribed, as a recorded answer of the real service
shows, unless ``strict_compliance`` is set; archived members are listed like the rest; the texts
of the batch errors other than ERROR_CONTACT_EXISTS and the invalid address, and of the 400s for
a bad query value or a batch over 500, are ours. Observed and kept: ``unsubscribe_reason`` is
present only while a member is unsubscribed; members added through the API have an empty
``timestamp_signup`` (``add_member``'s have ``at``, as if from a signup form).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from smarketing.demo.fakes.server import FakeApi, Fault, Reply

ERRORS_URL = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM = "application/problem+json; charset=utf-8"
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
WRITABLE_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
SORT_FIELDS = ("timestamp_opt", "timestamp_signup", "last_changed")
SEGMENT_TYPES = ("saved", "static", "fuzzy")
MAX_COUNT, BATCH_LIMIT = 1000, 500
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ADMIN_UNSUBSCRIBE = "N/A (Unsubscribed by admin)"
CONNECTIONS_DETAIL = "You have exceeded the limit of 10 simultaneous connections."

LIST_PATH = re.compile(r"^/3\.0/lists/([^/]+)$")
MEMBERS_PATH = re.compile(r"^/3\.0/lists/([^/]+)/members$")
MEMBER_PATH = re.compile(r"^/3\.0/lists/([^/]+)/members/([^/]+)$")
SEGMENTS_PATH = re.compile(r"^/3\.0/lists/([^/]+)/segments$")
SEGMENT_PATH = re.compile(r"^/3\.0/lists/([^/]+)/segments/([^/]+)$")
SEGMENT_MEMBERS_PATH = re.compile(r"^/3\.0/lists/([^/]+)/segments/([^/]+)/members$")
ABUSE_PATH = re.compile(r"^/3\.0/lists/([^/]+)/abuse-reports$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    body: dict[str, Any] = {"type": ERRORS_URL, "title": title, "status": status, "detail": detail,
                            "instance": str(uuid.uuid4())}
    if errors:
        body["errors"] = errors
    return Reply(status, body, {"Content-Type": PROBLEM, **(headers or {})})


def _invalid(field_name: str, message: str) -> Reply:
    return problem(400, "Invalid Resource", "The resource submitted could not be validated. For field-specific "
                   "details, see the 'errors' array.", [{"field": field_name, "message": message}])


def _not_found() -> Reply:
    return problem(404, "Resource Not Found", "The requested resource could not be found.")


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _second(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _parse_time(text: str) -> datetime:
    value = text.strip()
    value = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(value)
    return _second(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _project(doc: Any, tree: dict[str, Any], keep: bool) -> Any:
    """``fields`` (keep) or ``exclude_fields`` (drop) over dotted paths; arrays apply to each item."""
    if isinstance(doc, list):
        return [_project(item, tree, keep) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in tree:
            if not keep:
                out[key] = value
            continue
        sub = tree[key]
        if sub:  # a deeper path: recurse
            out[key] = _project(value, sub, keep)
        elif keep:
            out[key] = value
    return out


def _shape(doc: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    for param, keep in (("fields", True), ("exclude_fields", False)):
        paths = [p.strip() for p in query.get(param, "").split(",") if p.strip()]
        if paths:
            tree: dict[str, Any] = {}
            for path in paths:
                node = tree
                for part in path.split("."):
                    node = node.setdefault(part, {})
            doc = _project(doc, tree, keep)
    return doc


@dataclass
class _Member:
    list_id: str
    email: str
    status: str
    merge_fields: dict[str, Any]
    last_changed: datetime
    web_id: int
    timestamp_opt: datetime | None = None
    timestamp_signup: datetime | None = None
    unsubscribe_reason: str | None = None
    compliance: bool = False  # unsubscribed by the contact, or cleaned: never resubscribed via the API
    source: str = "API - Generic"

    @property
    def id(self) -> str:
        return subscriber_hash(self.email)


@dataclass
class _Segment:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    members: set[str] = field(default_factory=set)  # subscriber hashes


class _Refused(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body)
        self.reply = reply


class FakeMailchimp(FakeApi):
    def __init__(self, api_key: str = "demo-key-us21", audiences: dict[str, str] | None = None,
                 rate_limit: tuple[int, float] | None = None,
                 members: Iterable[tuple[str, str, str, str | None, str | None, datetime | str | None]] = (),
                 now: Callable[[], datetime] | None = None, max_connections: int = 10, latency: float = 0.0,
                 strict_compliance: bool = False) -> None:
        super().__init__(rate_limit)
        self.api_key = api_key
        self.audiences = dict(audiences if audiences is not None else {"demo_audience": "Demo customers"})
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.max_connections = max_connections
        self.latency = latency  # seconds every answer waits (holds its connection open)
        self.strict_compliance = strict_compliance  # refuse resubscribing any unsubscribed member
        self.peak_connections = 0
        self.created = {list_id: self._now() for list_id in self.audiences}
        self._in_flight = 0
        self._data = threading.RLock()
        self._members: dict[str, dict[str, _Member]] = {list_id: {} for list_id in self.audiences}
        self._segments: dict[str, dict[int, _Segment]] = {list_id: {} for list_id in self.audiences}
        self._abuse: dict[str, list[dict[str, Any]]] = {list_id: [] for list_id in self.audiences}
        self._web_ids = itertools.count(100_000_001)
        self._segment_ids = itertools.count(10_001)
        self._abuse_ids = itertools.count(1)
        for list_id, email, status, first, last, at in members:
            self.add_member(list_id, email, status, first, last, at)

    def start(self, port: int = 0) -> str:
        url = super().start(port)
        assert self._server is not None
        # the default backlog (5) drops simultaneous connections before they are counted
        self._server.socket.listen(128)
        return url

    def __enter__(self) -> FakeMailchimp:
        self.start()
        return self

    # --- helpers for tests ----------------------------------------------------------------------
    def add_member(self, list_id: str, email: str, status: str = "subscribed", first_name: str | None = None,
                   last_name: str | None = None, at: datetime | str | None = None) -> dict[str, Any]:
        """A contact already in the audience (signed up through a form at ``at``)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._data:
            members = self._audience(list_id)
            if subscriber_hash(email) in members:
                raise ValueError(f"{email} is already in {list_id}")
            moment = self._moment(at)
            member = _Member(list_id, email.strip(), status, {"FNAME": first_name or "", "LNAME": last_name or ""},
                             moment, next(self._web_ids), timestamp_signup=moment, source="Hosted Signup Form")
            if status == "subscribed":
                member.timestamp_opt = moment
            if status == "unsubscribed":
                member.unsubscribe_reason = "N/A (Unsubscribed by user)"
            member.compliance = status in ("unsubscribed", "cleaned")
            members[member.id] = member
            return self._render(member)

    def set_status(self, list_id: str, email: str, status: str, at: datetime | str | None = None,
                   reason: str | None = None) -> dict[str, Any]:
        """What the contact or Mailchimp does outside the API: an unsubscribe from a campaign's link
        (compliance state), a bounce (cleaned), a confirmation (subscribed)..."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._data:
            member = self._find(list_id, email)
            member.status = status
            member.unsubscribe_reason = (reason or "N/A (Unsubscribed by user)") if status == "unsubscribed" else None
            member.compliance = status in ("unsubscribed", "cleaned")
            if status == "subscribed" and member.timestamp_opt is None:
                member.timestamp_opt = self._moment(at)
            member.last_changed = self._moment(at)
            return self._render(member)

    def report_abuse(self, list_id: str, email: str, campaign_id: str = "c1",
                     at: datetime | str | None = None) -> dict[str, Any]:
        """A spam complaint: recorded as an abuse report, and the member is unsubscribed."""
        with self._data:
            member = self._find(list_id, email)
            moment = self._moment(at)
            report = {"id": next(self._abuse_ids), "campaign_id": campaign_id, "list_id": list_id,
                      "list_is_active": True, "email_id": member.id, "email_address": member.email,
                      "merge_fields": dict(member.merge_fields), "vip": False, "date": _iso(moment)}
            self._abuse[list_id].append(report)
            member.status, member.compliance = "unsubscribed", True
            member.unsubscribe_reason = "Abuse complaint"
            member.last_changed = moment
            return dict(report)

    def tagged(self, list_id: str, tag_name: str) -> set[str]:
        """The addresses carrying the tag (static segment) ``tag_name``."""
        with self._data:
            members = self._audience(list_id)
            return {members[h].email for s in self._segments[list_id].values() if s.name == tag_name
                    for h in s.members if h in members}

    def tags(self, list_id: str) -> dict[str, set[str]]:
        """Every tag of the audience and the addresses carrying it."""
        with self._data:
            return {s.name: self.tagged(list_id, s.name) for s in self._segments[list_id].values()}

    def clear(self) -> None:
        """Every audience empty again: no members, tags or abuse reports."""
        with self._data:
            for list_id in self.audiences:
                self._members[list_id], self._segments[list_id], self._abuse[list_id] = {}, {}, []

    def member(self, list_id: str, email: str) -> dict[str, Any] | None:
        with self._data:
            found = self._audience(list_id).get(subscriber_hash(email))
            return None if found is None else self._render(found)

    def writes(self, path_prefix: str = "") -> int:
        """Requests that may change data (anything but GET) whose path starts with ``path_prefix``."""
        with self._lock:
            return sum(1 for method, path in self.requests if method != "GET" and path.startswith(path_prefix))

    # --- HTTP plumbing ------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str, raw: bytes) -> None:
        with self._lock:
            self._in_flight += 1
            over = self._in_flight > self.max_connections
            self.peak_connections = max(self.peak_connections, self._in_flight)
        try:
            if over:
                with self._lock:
                    self.requests.append((method, urlsplit(handler.path).path))
                reply = problem(429, "Too Many Requests", CONNECTIONS_DETAIL)
                self._send(handler, reply.status, json.dumps(reply.body), reply.headers)
                return
            if self.latency:
                time.sleep(self.latency)
            if raw:
                try:
                    json.loads(raw)
                except ValueError:
                    with self._lock:
                        self.requests.append((method, urlsplit(handler.path).path))
                    reply = problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
                    self._send(handler, reply.status, json.dumps(reply.body), reply.headers)
                    return
            super()._handle(handler, method, raw)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _take_fault(self, path: str) -> Fault | None:
        fault = super()._take_fault(path)
        if fault is None or fault.body is not None or fault.status < 400:
            return fault
        title = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(
            fault.status, "Bad Request")
        detail = {429: CONNECTIONS_DETAIL, 500: "An unexpected internal error has occurred. Please contact Support "
                  "for more information."}.get(fault.status, "Your request could not be processed.")
        body = dict(problem(fault.status, title, detail).body)
        return dataclasses.replace(fault, body=json.dumps(body), headers={"Content-Type": PROBLEM, **fault.headers})

    def too_many_requests(self) -> Reply:
        return problem(429, "Too Many Requests", CONNECTIONS_DETAIL)

    def route(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]) -> Reply:
        auth = self._authenticate(headers)
        if auth is not None:
            return auth
        if isinstance(body, bytes):
            body = json.loads(body) if body else None
        path = path.rstrip("/") or "/"
        try:
            with self._data:
                return self._dispatch(method, path, query, body)
        except _Refused as refused:
            return refused.reply
        except Exception:  # noqa: BLE001 - Mailchimp's 500 document, not a stack trace
            return problem(500, "Internal Server Error", "An unexpected internal error has occurred. Please contact "
                           "Support for more information.")

    def _authenticate(self, headers: dict[str, str]) -> Reply | None:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not value:
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                password = None
            if password == self.api_key:
                return None
        return problem(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access the "
                       "wrong datacenter.")

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if path == "/3.0/ping":
            return self._only(method, "GET") or self._ok({"health_status": "Everything's Chimpy!"}, query)
        routes: list[tuple[re.Pattern[str], dict[str, Callable[..., Reply]]]] = [
            (LIST_PATH, {"GET": self._get_list, "POST": self._batch_subscribe}),
            (MEMBERS_PATH, {"GET": self._list_members, "POST": self._add_member}),
            (MEMBER_PATH, {"GET": self._get_member, "PUT": self._put_member}),
            (SEGMENTS_PATH, {"GET": self._list_segments, "POST": self._create_segment}),
            (SEGMENT_MEMBERS_PATH, {"GET": self._segment_members}),
            (SEGMENT_PATH, {"GET": self._get_segment, "POST": self._batch_segment}),
            (ABUSE_PATH, {"GET": self._abuse_reports}),
        ]
        for pattern, handlers in routes:
            match = pattern.match(path)
            if match is None:
                continue
            list_id = unquote(match.group(1))
            if list_id not in self._members:
                return _not_found()
            if method not in handlers:
                return self._only(method, *handlers) or _not_found()
            args = [unquote(g) for g in match.groups()[1:]]
            return handlers[method](list_id, *args, query=query, body=body)
        return _not_found()

    @staticmethod
    def _only(method: str, *allowed: str) -> Reply | None:
        if method in allowed:
            return None
        return problem(405, "Method Not Allowed", "The requested method and resource are not compatible. See the "
                       "Allow header for this resource's available methods.", headers={"Allow": ", ".join(allowed)})

    @staticmethod
    def _ok(doc: dict[str, Any], query: dict[str, str]) -> Reply:
        return Reply(200, _shape(doc, query))

    # --- state ---------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return _second(self.now())

    def _moment(self, at: datetime | str | None) -> datetime:
        if at is None:
            return self._now()
        return _parse_time(at) if isinstance(at, str) else _second(at)

    def _audience(self, list_id: str) -> dict[str, _Member]:
        if list_id not in self._members:
            raise KeyError(f"no audience {list_id!r}")
        return self._members[list_id]

    def _find(self, list_id: str, email: str) -> _Member:
        found = self._audience(list_id).get(subscriber_hash(email))
        if found is None:
            raise KeyError(f"{email} is not in {list_id}")
        return found

    def _tags(self, member: _Member) -> list[dict[str, Any]]:
        return [{"id": s.id, "name": s.name} for s in sorted(self._segments[member.list_id].values(),
                                                             key=lambda s: s.id) if member.id in s.members]

    def _render(self, member: _Member, with_tags: bool = True) -> dict[str, Any]:
        first, last = member.merge_fields.get("FNAME", ""), member.merge_fields.get("LNAME", "")
        doc: dict[str, Any] = {
            "id": member.id, "email_address": member.email,
            "unique_email_id": hashlib.md5(f"{member.list_id}:{member.id}".encode()).hexdigest()[:10],
            "contact_id": hashlib.md5(f"contact:{member.id}".encode()).hexdigest(),
            "full_name": f"{first} {last}".strip(), "web_id": member.web_id, "email_type": "html",
            "status": member.status,
        }
        if member.status == "unsubscribed":
            doc["unsubscribe_reason"] = member.unsubscribe_reason or ADMIN_UNSUBSCRIBE
        doc.update({
            "consents_to_one_to_one_messaging": True, "merge_fields": dict(member.merge_fields),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0}, "ip_signup": "",
            "timestamp_signup": _iso(member.timestamp_signup), "ip_opt": "",
            "timestamp_opt": _iso(member.timestamp_opt), "member_rating": 2,
            "last_changed": _iso(member.last_changed), "language": "", "vip": False, "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "",
                         "timezone": ""},
            "source": member.source,
        })
        if with_tags:
            tags = self._tags(member)
            doc.update({"tags_count": len(tags), "tags": tags})
        doc["list_id"] = member.list_id
        return doc

    # --- query parameters ----------------------------------------------------------------------------
    @staticmethod
    def _paging(query: dict[str, str]) -> tuple[int, int]:
        try:
            count, offset = int(query.get("count") or 10), int(query.get("offset") or 0)
        except ValueError as exc:
            raise _Refused(_invalid("count", f"count and offset must be integers ({exc})")) from exc
        if count < 0 or offset < 0:
            raise _Refused(_invalid("count" if count < 0 else "offset", "must not be negative"))
        return min(count, MAX_COUNT), offset

    @staticmethod
    def _time_param(query: dict[str, str], name: str) -> datetime | None:
        if not query.get(name):
            return None
        try:
            return _parse_time(query[name])
        except ValueError as exc:
            raise _Refused(_invalid(name, f"{query[name]!r} is not an ISO 8601 time such as "
                                          "2015-10-21T15:41:36+00:00")) from exc

    @staticmethod
    def _flag(query: dict[str, str], name: str) -> bool:
        return query.get(name, "").lower() == "true"

    # --- endpoints -----------------------------------------------------------------------------------
    def _get_list(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        members = self._members[list_id].values()
        count = {s: sum(1 for m in members if m.status == s) for s in STATUSES}
        stats: dict[str, Any] = {
            "member_count": count["subscribed"], "unsubscribe_count": count["unsubscribed"],
            "cleaned_count": count["cleaned"], "member_count_since_send": count["subscribed"],
            "unsubscribe_count_since_send": count["unsubscribed"], "cleaned_count_since_send": count["cleaned"],
            "campaign_count": 0, "campaign_last_sent": "", "merge_field_count": 2, "avg_sub_rate": 0,
            "avg_unsub_rate": 0, "target_sub_rate": 0, "open_rate": 0, "click_rate": 0,
            "last_sub_date": "", "last_unsub_date": "",
        }
        if self._flag(query, "include_total_contacts"):
            stats["total_contacts"] = len(self._members[list_id])
        doc = {"id": list_id, "web_id": 382062, "name": self.audiences[list_id],
               "permission_reminder": "You signed up on our website.", "use_archive_bar": True,
               "campaign_defaults": {"from_name": "Demo", "from_email": "demo@example.com", "subject": "",
                                     "language": "en"},
               "notify_on_subscribe": "", "notify_on_unsubscribe": "", "date_created": _iso(self.created[list_id]),
               "list_rating": 0, "email_type_option": False, "visibility": "prv", "double_optin": False,
               "has_welcome": False, "marketing_permissions": False, "modules": [], "stats": stats}
        return self._ok(doc, query)

    def _list_members(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        count, offset = self._paging(query)
        rows = list(self._members[list_id].values())
        status = query.get("status")
        if status:
            if status not in STATUSES:
                raise _Refused(_invalid("status", f"must be one of {', '.join(STATUSES)}"))
            rows = [m for m in rows if m.status == status]
        for name, attribute, after in (("since_last_changed", "last_changed", True),
                                       ("before_last_changed", "last_changed", False),
                                       ("since_timestamp_opt", "timestamp_opt", True),
                                       ("before_timestamp_opt", "timestamp_opt", False)):
            bound = self._time_param(query, name)
            if bound is not None:
                rows = [m for m in rows if (value := getattr(m, attribute)) is not None
                        and (value > bound if after else value < bound)]
        sort_field, sort_dir = query.get("sort_field"), query.get("sort_dir") or "ASC"
        if sort_dir not in ("ASC", "DESC"):
            raise _Refused(_invalid("sort_dir", "must be ASC or DESC"))
        if sort_field:
            if sort_field not in SORT_FIELDS:
                raise _Refused(_invalid("sort_field", f"must be one of {', '.join(SORT_FIELDS)}"))
            epoch, attribute = datetime.min.replace(tzinfo=UTC), sort_field
            rows.sort(key=lambda m: (getattr(m, attribute) or epoch, m.web_id), reverse=sort_dir == "DESC")
        page = rows[offset:offset + count]
        return self._ok({"members": [self._render(m) for m in page], "list_id": list_id, "total_items": len(rows)},
                        query)

    def _resolve(self, list_id: str, key: str) -> _Member | None:
        return self._members[list_id].get(subscriber_hash(key) if "@" in key else key.lower())

    def _get_member(self, list_id: str, key: str, query: dict[str, str], body: Any) -> Reply:
        member = self._resolve(list_id, key)
        return _not_found() if member is None else self._ok(self._render(member), query)

    def _new_member(self, list_id: str, email: str, status: str, merge_fields: Any) -> _Member:
        moment = self._now()
        member = _Member(list_id, email.strip(), status, {"FNAME": "", "LNAME": ""}, moment, next(self._web_ids))
        member.merge_fields.update(merge_fields or {})
        if status == "subscribed":
            member.timestamp_opt = moment
        if status == "unsubscribed":
            member.unsubscribe_reason = ADMIN_UNSUBSCRIBE
        member.compliance = status == "cleaned"
        self._members[list_id][member.id] = member
        return member

    def _refusal(self, member: _Member, status: str | None) -> str | None:
        """Why ``member`` cannot take ``status`` through the API, or None."""
        if status == "subscribed" and member.status in ("unsubscribed", "cleaned") and (
                member.compliance or self.strict_compliance):
            return (f"{member.email} is in a compliance state due to unsubscribe, bounce, or compliance review and "
                    "cannot be subscribed.")
        return None

    def _update(self, member: _Member, status: str | None, merge_fields: Any) -> bool:
        """Apply a change through the API; True when something changed (then ``last_changed`` moves)."""
        changed = False
        if status and status != member.status:
            if status == "subscribed" and member.timestamp_opt is None:
                member.timestamp_opt = self._now()
            member.status = status
            member.unsubscribe_reason = ADMIN_UNSUBSCRIBE if status == "unsubscribed" else None
            member.compliance = status == "cleaned"
            changed = True
        for key, value in (merge_fields or {}).items():
            if member.merge_fields.get(key) != value:
                member.merge_fields[key] = value
                changed = True
        if changed:
            member.last_changed = self._now()
        return changed

    def _add_member(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        email, status = str(body.get("email_address") or ""), body.get("status")
        if not EMAIL.match(email.strip()):
            return problem(400, "Invalid Resource", "Please provide a valid email address.")
        if status not in WRITABLE_STATUSES:
            return _invalid("status", f"must be one of {', '.join(WRITABLE_STATUSES)}")
        if subscriber_hash(email) in self._members[list_id]:
            return problem(400, "Member Exists", f"{email} is already a list member. Use PUT to insert or update "
                           "list members.")
        return self._ok(self._render(self._new_member(list_id, email, status, body.get("merge_fields"))), query)

    def _put_member(self, list_id: str, key: str, query: dict[str, str], body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        member = self._resolve(list_id, key)
        email = None if body.get("email_address") is None else str(body["email_address"]).strip()
        status = body.get("status")
        if email is not None and not EMAIL.match(email):
            return problem(400, "Invalid Resource", "Please provide a valid email address.")
        if status is not None and status not in WRITABLE_STATUSES:
            return _invalid("status", f"must be one of {', '.join(WRITABLE_STATUSES)}")
        if member is None:
            new_status = status or body.get("status_if_new")
            if not email:
                return _invalid("email_address", "This value should not be blank.")
            if new_status not in WRITABLE_STATUSES:
                return _invalid("status_if_new", f"must be one of {', '.join(WRITABLE_STATUSES)}")
            key_hash = subscriber_hash(key) if "@" in key else key.lower()
            if key_hash != subscriber_hash(email):
                return _invalid("email_address", "The subscriber hash in the path does not match this email address.")
            return self._ok(self._render(self._new_member(list_id, email, new_status, body.get("merge_fields"))),
                            query)
        refusal = self._refusal(member, status)
        if refusal:
            return problem(400, "Member In Compliance State", refusal)
        if email and subscriber_hash(email) != member.id:
            if subscriber_hash(email) in self._members[list_id]:
                return problem(400, "Member Exists", f"{email} is already a list member. Use PUT to insert or "
                               "update list members.")
            self._rename(member, email)
            member.last_changed = self._now()
        elif email and email != member.email:
            member.email = email
            member.last_changed = self._now()
        self._update(member, status, body.get("merge_fields"))
        return self._ok(self._render(member), query)

    def _rename(self, member: _Member, email: str) -> None:
        old = member.id
        del self._members[member.list_id][old]
        member.email = email
        self._members[member.list_id][member.id] = member
        for segment in self._segments[member.list_id].values():
            if old in segment.members:
                segment.members.discard(old)
                segment.members.add(member.id)

    def _batch_subscribe(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        entries = body.get("members")
        if not isinstance(entries, list):
            return _invalid("members", "Required field missing")
        if len(entries) > BATCH_LIMIT:
            return _invalid("members", f"You may only send {BATCH_LIMIT} members in a single batch request "
                                       f"({len(entries)} sent).")
        update_existing = body.get("update_existing") is True
        skip_duplicates = self._flag(query, "skip_duplicate_check")
        created: list[_Member] = []
        updated: list[_Member] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()

        def error(email: str, message: str, code: str = "ERROR_GENERIC", field_name: str = "",
                  field_message: str = "") -> None:
            errors.append({"email_address": email, "error": message, "error_code": code, "field": field_name,
                           "field_message": field_message})

        for entry in entries:
            entry = entry if isinstance(entry, dict) else {}
            email = str(entry.get("email_address") or "").strip()
            status = entry.get("status") or entry.get("status_if_new")
            if not EMAIL.match(email):
                error(email, "Please provide a valid email address.", field_name="email_address",
                      field_message="Please provide a valid email address.")
                continue
            if subscriber_hash(email) in seen:
                if not skip_duplicates:
                    error(email, f"{email} was found more than once in this batch.")
                continue
            seen.add(subscriber_hash(email))
            existing = self._members[list_id].get(subscriber_hash(email))
            if existing is None:
                if status not in WRITABLE_STATUSES:
                    error(email, "Invalid status.", field_name="status",
                          field_message=f"must be one of {', '.join(WRITABLE_STATUSES)}")
                    continue
                created.append(self._new_member(list_id, email, status, entry.get("merge_fields")))
                continue
            if not update_existing:
                error(email, f"{email} is already a list member, do you want to update? please provide "
                             "update_existing:true in the request body", "ERROR_CONTACT_EXISTS")
                continue
            new_status = entry.get("status")
            if new_status is not None and new_status not in WRITABLE_STATUSES:
                error(email, "Invalid status.", field_name="status",
                      field_message=f"must be one of {', '.join(WRITABLE_STATUSES)}")
                continue
            refusal = self._refusal(existing, new_status)
            if refusal:
                error(email, refusal)
                continue
            self._update(existing, new_status, entry.get("merge_fields"))
            updated.append(existing)
        return self._ok({"new_members": [self._render(m) for m in created],
                         "updated_members": [self._render(m) for m in updated], "errors": errors,
                         "total_created": len(created), "total_updated": len(updated), "error_count": len(errors)},
                        query)

    # --- segments (tags) -------------------------------------------------------------------------------
    def _visible(self, member: _Member, query: dict[str, str]) -> bool:
        """Segment member lists and counts leave out unsubscribed, cleaned and transactional members
        unless asked (``include_*``); archived ones always."""
        optional = {"unsubscribed": "include_unsubscribed", "cleaned": "include_cleaned",
                    "transactional": "include_transactional"}
        if member.status in optional:
            return self._flag(query, optional[member.status])
        return member.status != "archived"

    def _segment_doc(self, list_id: str, segment: _Segment, query: dict[str, str]) -> dict[str, Any]:
        members = self._members[list_id]
        count = sum(1 for h in segment.members if h in members and self._visible(members[h], query))
        return {"id": segment.id, "name": segment.name, "member_count": count, "type": "static",
                "created_at": _iso(segment.created_at), "updated_at": _iso(segment.updated_at), "list_id": list_id}

    def _segment(self, list_id: str, segment_id: str) -> _Segment:
        found = self._segments[list_id].get(int(segment_id)) if segment_id.isdigit() else None
        if found is None:
            raise _Refused(_not_found())
        return found

    def _list_segments(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        count, offset = self._paging(query)
        kind = query.get("type")
        if kind and kind not in SEGMENT_TYPES:
            raise _Refused(_invalid("type", f"must be one of {', '.join(SEGMENT_TYPES)}"))
        rows = sorted(self._segments[list_id].values(), key=lambda s: s.id) if kind in (None, "", "static") else []
        page = [self._segment_doc(list_id, s, query) for s in rows[offset:offset + count]]
        return self._ok({"segments": page, "list_id": list_id, "total_items": len(rows)}, query)

    def _create_segment(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        name = str(body.get("name") or "").strip()
        if not name:
            return _invalid("name", "This value should not be blank.")
        if "static_segment" in body and "options" in body:
            return _invalid("static_segment", "Cannot provide both \"options\" and \"static_segment\" fields")
        if "options" in body:
            return problem(400, "Invalid Resource", "Saved segments (options) are not implemented by this fake.")
        emails = body.get("static_segment")
        if not isinstance(emails, list):
            return problem(400, "Invalid Resource", "Must provide either an \"options\" field or a \"static_segment\" "
                           "field")
        if any(s.name.lower() == name.lower() for s in self._segments[list_id].values()):
            return problem(400, "Invalid Resource", f"A segment or tag named \"{name}\" already exists in this list.")
        moment = self._now()
        segment = _Segment(next(self._segment_ids), name, moment, moment)
        self._segments[list_id][segment.id] = segment
        members = self._members[list_id]
        for email in emails:  # addresses not in the audience are ignored, as documented
            member = members.get(subscriber_hash(str(email)))
            if member is not None and member.id not in segment.members:
                segment.members.add(member.id)
                member.last_changed = moment
        return self._ok(self._segment_doc(list_id, segment, query), query)

    def _get_segment(self, list_id: str, segment_id: str, query: dict[str, str], body: Any) -> Reply:
        return self._ok(self._segment_doc(list_id, self._segment(list_id, segment_id), query), query)

    def _segment_members(self, list_id: str, segment_id: str, query: dict[str, str], body: Any) -> Reply:
        segment = self._segment(list_id, segment_id)
        count, offset = self._paging(query)
        members = self._members[list_id]
        rows = sorted((members[h] for h in segment.members if h in members and self._visible(members[h], query)),
                      key=lambda m: m.web_id)
        page = [self._render(m, with_tags=False) for m in rows[offset:offset + count]]
        return self._ok({"members": page, "total_items": len(rows)}, query)

    def _batch_segment(self, list_id: str, segment_id: str, query: dict[str, str], body: Any) -> Reply:
        segment = self._segment(list_id, segment_id)
        body = body if isinstance(body, dict) else {}
        to_add, to_remove = body.get("members_to_add") or [], body.get("members_to_remove") or []
        if not isinstance(to_add, list) or not isinstance(to_remove, list):
            return _invalid("members_to_add", "must be an array of email addresses")
        for name, emails in (("members_to_add", to_add), ("members_to_remove", to_remove)):
            if len(emails) > BATCH_LIMIT:
                return _invalid(name, f"You may only send {BATCH_LIMIT} email addresses in a single request "
                                      f"({len(emails)} sent).")
        members = self._members[list_id]
        moment = self._now()
        added: list[_Member] = []
        removed: list[_Member] = []
        errors: list[dict[str, Any]] = []
        for emails, adding in ((to_add, True), (to_remove, False)):
            missing = []
            for email in emails:
                member = members.get(subscriber_hash(str(email)))
                if member is None:
                    missing.append(str(email))
                elif adding and member.id not in segment.members:
                    segment.members.add(member.id)
                    added.append(member)
                elif not adding and member.id in segment.members:
                    segment.members.discard(member.id)
                    removed.append(member)
            if missing:
                errors.append({"email_addresses": missing,
                               "error": "Email addresses are not members of this list, so they were not "
                                        + ("added to" if adding else "removed from") + " the segment."})
        for member in added + removed:
            member.last_changed = moment
        if added or removed:
            segment.updated_at = moment
        return self._ok({"members_added": [self._render(m) for m in added],
                         "members_removed": [self._render(m) for m in removed], "errors": errors,
                         "total_added": len(added), "total_removed": len(removed),
                         "error_count": sum(len(e["email_addresses"]) for e in errors)}, query)

    def _abuse_reports(self, list_id: str, query: dict[str, str], body: Any) -> Reply:
        count, offset = self._paging(query)
        rows = self._abuse[list_id]
        return self._ok({"abuse_reports": [dict(r) for r in rows[offset:offset + count]], "list_id": list_id,
                         "total_items": len(rows)}, query)
