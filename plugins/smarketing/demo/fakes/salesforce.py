"""A fake of the Salesforce REST API the connector uses, serving a ``Dataset``.

- ``POST /services/oauth2/token``: the client credentials flow, returning ``access_token`` and
  ``instance_url``; ``expire_tokens()`` makes every issued token fail with INVALID_SESSION_ID;
- ``GET /services/data/vXX.X/query`` and ``/queryAll`` with ``q=<SOQL>``: SELECT fields FROM
  object, WHERE comparisons joined by AND, ORDER BY, LIMIT; ``queryAll`` includes deleted rows;
  ``Sforce-Query-Options: batchSize=N`` (200 to 2000) sets the page size, and
  ``nextRecordsUrl`` / ``done`` page through a server-side cursor;
- errors in Salesforce's shape: ``[{"message": ..., "errorCode": ...}]``.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from smarketing.demo.fakes.server import FakeApi, Reply
from smarketing.demo.world import Dataset
from smarketing.sources.salesforce import OBJECTS

SOQL = re.compile(
    r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<object>\w+)(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>.+?))?(?:\s+limit\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
CONDITION = re.compile(r"^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")
# The standard fields the connector reads exist on every org; custom fields exist when the data has them.
STANDARD_FIELDS = {sobject: set(fields) for sobject, fields in OBJECTS.values()}
QUERY_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/(query|queryAll)(?:/([\w-]+))?$")


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, [{"message": message, "errorCode": code}])


def _value(literal: str) -> Any:
    literal = literal.strip()
    if literal.startswith("'") and literal.endswith("'"):
        return literal[1:-1]
    if literal.lower() in ("true", "false"):
        return literal.lower() == "true"
    if literal.lower() == "null":
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}T", literal):
        return datetime.fromisoformat(literal.replace("Z", "+00:00"))
    try:
        return float(literal)
    except ValueError:
        return literal


def _field(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value):
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


# Standard objects every org has, queryable even when they hold no record.
STANDARD_OBJECTS = ("Account", "Lead", "Contact", "Opportunity", "OpportunityHistory", "Task", "Event", "Campaign",
                    "CampaignMember")


class FakeSalesforce(FakeApi):
    def __init__(self, dataset: Dataset | None = None, client_id: str = "demo-consumer-key",
                 client_secret: str = "demo-consumer-secret", rate_limit: tuple[int, float] | None = None) -> None:
        super().__init__(rate_limit)
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self._token_numbers = itertools.count(1)
        self._cursor_numbers = itertools.count(1)
        self.cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}  # locator -> (rows, batch size)
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in STANDARD_OBJECTS}
        if dataset is not None:
            for (system, _entity), records in dataset.records.items():
                if system != "salesforce":
                    continue
                for record in records:
                    self.put(record.payload)

    def put(self, payload: dict[str, Any]) -> None:
        """Create or replace one record (the latest version wins), keyed by its sObject and Id."""
        self.tables.setdefault(payload["attributes"]["type"], {})[payload["Id"]] = payload

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def too_many_requests(self) -> Reply:
        return Reply(429, [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                     {"Retry-After": "1"})

    def route(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]) -> Reply:
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(body)
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        match = QUERY_PATH.match(path)
        if not match or method != "GET":
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        version, kind, locator = match.groups()
        if locator:
            return self._next_page(version, locator)
        if "q" not in query:
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        batch = 2000
        option = re.search(r"batchSize=(\d+)", headers.get("Sforce-Query-Options", ""))
        if option:
            batch = max(200, min(2000, int(option.group(1))))
        return self._query(version, query["q"], include_deleted=kind == "queryAll", batch=batch)

    def _token(self, body: Any) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode() if isinstance(body, bytes) else str(body)).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token = f"00Dfake!token{next(self._token_numbers)}"
        self.tokens.add(token)
        return Reply(200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                           "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)), "signature": "fake",
                           "id": f"{self.url}/id/00Dfake/005fake"})

    def _query(self, version: str, soql: str, include_deleted: bool, batch: int) -> Reply:
        parsed = SOQL.match(soql)
        if not parsed:
            return _error(400, "MALFORMED_QUERY", f"unexpected token in query: {soql[:80]}")
        sobject = parsed.group("object")
        table = self.tables.get(sobject)
        if table is None:
            return _error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        fields = [f.strip() for f in parsed.group("fields").split(",")]
        known = STANDARD_FIELDS.get(sobject, set()).union(*(r.keys() for r in table.values()))
        for name in fields:
            if name not in known:
                return _error(400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")
        rows = [r for r in table.values() if include_deleted or not r.get("IsDeleted")]
        if parsed.group("where"):
            for clause in re.split(r"\s+and\s+", parsed.group("where"), flags=re.IGNORECASE):
                cond = CONDITION.match(clause)
                if not cond:
                    return _error(400, "MALFORMED_QUERY", f"unsupported condition: {clause}")
                name, op, literal = cond.groups()
                right = _value(literal)
                rows = [r for r in rows if _compare(_field(r, name), op, right)]
        if parsed.group("order"):
            for term in reversed([t.strip() for t in parsed.group("order").split(",")]):
                name, *direction = term.split()
                descending = bool(direction) and direction[0].upper() == "DESC"
                def order_key(r: dict[str, Any], n: str = name) -> tuple[bool, Any]:
                    value = _field(r, n)
                    return value is None, value or 0

                rows.sort(key=order_key, reverse=descending)
        if parsed.group("limit"):
            rows = rows[: int(parsed.group("limit"))]
        shaped = [{"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}"},
                   **{f: r.get(f) for f in fields}} for r in rows]
        cursor = f"01gFAKE{next(self._cursor_numbers):011d}"
        self.cursors[cursor] = (shaped, batch)
        return self._page(version, cursor, 0)

    def _next_page(self, version: str, locator: str) -> Reply:
        cursor, _, start = locator.rpartition("-")
        if cursor not in self.cursors or not start.isdigit():
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, cursor, int(start))

    def _page(self, version: str, cursor: str, start: int) -> Reply:
        rows, batch = self.cursors[cursor]
        end = start + batch
        reply: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[start:end]}
        if end < len(rows):
            reply["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor}-{end}"
        return Reply(200, reply)
