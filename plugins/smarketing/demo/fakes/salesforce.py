"""A fake of the Salesforce REST API the connector uses, serving a ``Dataset``.

- ``POST /services/oauth2/token``: the client credentials, refresh token (``refresh_tokens``)
  and JWT bearer (an RS256 assertion signed by the key whose public half is ``jwt_public_key``,
  ``iss`` the consumer key, ``sub`` a username of ``usernames``, ``aud`` the fake's URL) flows,
  returning ``access_token`` and ``instance_url``, or ``invalid_grant``/``invalid_client``;
  ``expire_tokens()`` makes every issued token fail with INVALID_SESSION_ID;
- ``GET /services/data/vXX.X/sobjects/{sObject}/describe``: the object's fields (name, type,
  label, custom, nillable) as this org has them;
- ``GET /services/data/vXX.X/query`` and ``/queryAll`` with ``q=<SOQL>``: SELECT fields FROM
  object, WHERE comparisons joined by AND, ORDER BY, LIMIT; ``queryAll`` includes deleted rows;
  a field the org lacks fails the whole query with ``INVALID_FIELD``, as the real API does;
  ``Sforce-Query-Options: batchSize=N`` (200 to 2000) sets the page size, and
  ``nextRecordsUrl`` / ``done`` page through a server-side cursor;
- errors in Salesforce's shape: ``[{"message": ..., "errorCode": ...}]``.

The org's schema is its own (``ORG_FIELDS``, written from Salesforce's object reference, not
from the connector's field lists): ``CurrencyIsoCode`` exists only with ``multi_currency``, and
a custom field (``__c``) only when declared in ``custom_fields`` or present in a record put.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from smarketing.demo.fakes.server import FakeApi, Reply
from smarketing.demo.world import Dataset

SOQL = re.compile(
    r"^\s*select\s+(?P<fields>.+?)\s+from\s+(?P<object>\w+)(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>.+?))?(?:\s+limit\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
CONDITION = re.compile(r"^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$")
QUERY_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/(query|queryAll)(?:/([\w-]+))?$")
DESCRIBE_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/sobjects/(\w+)/describe$")
_AUDIT = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
# The standard fields of the objects an org of this fake has (a subset of Salesforce's object reference).
ORG_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("Id", "IsDeleted", "Name", "Type", "ParentId", "BillingCity", "BillingCountry", "Phone", "Website",
                "Industry", "AnnualRevenue", "NumberOfEmployees", "Description", "OwnerId", *_AUDIT),
    "Lead": ("Id", "IsDeleted", "FirstName", "LastName", "Name", "Title", "Company", "City", "Country", "Phone",
             "MobilePhone",
             "Email", "Website", "LeadSource", "Status", "Industry", "Rating", "OwnerId", "HasOptedOutOfEmail",
             "DoNotCall", "IsConverted", "ConvertedDate", "ConvertedAccountId", "ConvertedContactId",
             "ConvertedOpportunityId", *_AUDIT),
    "Contact": ("Id", "IsDeleted", "AccountId", "FirstName", "LastName", "Name", "Title", "Phone", "MobilePhone",
                "Email", "MailingCity", "MailingCountry", "LeadSource", "HasOptedOutOfEmail", "DoNotCall", "OwnerId",
                *_AUDIT),
    "Opportunity": ("Id", "IsDeleted", "AccountId", "ContactId", "Name", "Description", "StageName", "Amount",
                    "Probability", "ExpectedRevenue", "CloseDate", "Type", "NextStep", "LeadSource", "IsClosed",
                    "IsWon", "ForecastCategory", "CampaignId", "OwnerId", "FiscalYear", "FiscalQuarter", *_AUDIT),
    "OpportunityHistory": ("Id", "IsDeleted", "OpportunityId", "StageName", "Amount", "ExpectedRevenue", "CloseDate",
                           "Probability", "ForecastCategory", *_AUDIT),
    "Task": ("Id", "IsDeleted", "WhoId", "WhatId", "Subject", "ActivityDate", "Status", "Priority", "OwnerId",
             "Type", "TaskSubtype", "CallType", *_AUDIT),
    "Event": ("Id", "IsDeleted", "WhoId", "WhatId", "Subject", "Location", "StartDateTime", "EndDateTime",
              "ActivityDate", "OwnerId", "Type", *_AUDIT),
    "Campaign": ("Id", "IsDeleted", "Name", "ParentId", "Type", "Status", "StartDate", "EndDate", "IsActive",
                 "OwnerId", *_AUDIT),
    "CampaignMember": ("Id", "IsDeleted", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded",
                       "FirstRespondedDate", *_AUDIT),
    "User": ("Id", "Username", "FirstName", "LastName", "Name", "Email", "Title", "IsActive", "UserType",
             *_AUDIT),  # users are deactivated, never deleted: no IsDeleted
}
# The objects a multi-currency org has besides (no IsDeleted either).
CURRENCY_OBJECTS: dict[str, tuple[str, ...]] = {
    "CurrencyType": ("Id", "IsoCode", "ConversionRate", "DecimalPlaces", "IsActive", "IsCorporate", *_AUDIT),
    "DatedConversionRate": ("Id", "IsoCode", "ConversionRate", "StartDate", "NextStartDate", *_AUDIT),
}
MULTI_CURRENCY = ("Account", "Lead", "Contact", "Opportunity", "Campaign", "User")


def _field_type(name: str) -> str:
    if name == "Id":
        return "id"
    if name.endswith("Id") or name in ("WhoId", "WhatId"):
        return "reference"
    if name.startswith(("Is", "Has")) or name == "DoNotCall":
        return "boolean"
    if name.endswith("DateTime") or name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        return "datetime"
    if name.endswith("Date"):
        return "date"
    if name in ("Amount", "AnnualRevenue", "ExpectedRevenue"):
        return "currency"
    if name == "ConversionRate":
        return "double"
    if name == "Probability":
        return "percent"
    if name in ("NumberOfEmployees", "FiscalYear", "FiscalQuarter"):
        return "int"
    return "picklist" if name in ("CurrencyIsoCode", "StageName", "LeadSource", "Status", "Type") else "string"


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


class FakeSalesforce(FakeApi):
    def __init__(self, dataset: Dataset | None = None, client_id: str = "demo-consumer-key",
                 client_secret: str = "demo-consumer-secret", rate_limit: tuple[int, float] | None = None,
                 multi_currency: bool = True, custom_fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(rate_limit)
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.jwt_public_key: str | None = None
        self.usernames: set[str] = set()
        self._token_numbers = itertools.count(1)
        self._cursor_numbers = itertools.count(1)
        self.cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}  # locator -> (rows, batch size)
        objects = {**ORG_FIELDS, **(CURRENCY_OBJECTS if multi_currency else {})}
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in objects}
        self.fields: dict[str, list[str]] = {
            name: [*fields, *(["CurrencyIsoCode"] if multi_currency and name in MULTI_CURRENCY else [])]
            for name, fields in objects.items()}
        for sobject, names in (custom_fields or {}).items():
            self.add_custom_fields(sobject, names)
        if dataset is not None:
            for (system, _entity), records in dataset.records.items():
                if system != "salesforce":
                    continue
                for record in records:
                    self.put(record.payload)

    def add_custom_fields(self, sobject: str, names: list[str]) -> None:
        for name in names:
            if not name.endswith("__c"):
                raise ValueError(f"custom field names end in __c: {name}")
            if name not in self.fields[sobject]:
                self.fields[sobject].append(name)

    def remove_field(self, sobject: str, name: str) -> None:
        """The org loses a field (an admin deleted a custom field): records keep no value for it."""
        self.fields[sobject].remove(name)
        for record in self.tables[sobject].values():
            record.pop(name, None)

    def put(self, payload: dict[str, Any]) -> None:
        """Create or replace one record (the latest version wins), keyed by its sObject and Id. A
        custom field the record carries becomes part of the org; a standard field the org lacks
        (``CurrencyIsoCode`` without multi-currency) is refused, so fixtures stay consistent."""
        sobject = payload["attributes"]["type"]
        if sobject not in self.fields:
            raise ValueError(f"this fake org has no sObject {sobject}")
        self.add_custom_fields(sobject, [k for k in payload if k.endswith("__c")])
        unknown = set(payload) - {"attributes"} - set(self.fields[sobject])
        if unknown:
            raise ValueError(f"{sobject} has no field {sorted(unknown)} in this org")
        self.tables[sobject][payload["Id"]] = payload

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
        describe = DESCRIBE_PATH.match(path)
        if describe and method == "GET":
            return self._describe(describe.group(2))
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
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
                return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        elif grant == "refresh_token":
            if form.get("client_id") != self.client_id or form.get("client_secret", self.client_secret) != \
                    self.client_secret:
                return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
            if form.get("refresh_token") not in self.refresh_tokens:
                return Reply(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._jwt_problem(form.get("assertion", ""))
            if problem:
                return Reply(400, {"error": "invalid_grant", "error_description": problem})
        else:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        token = f"00Dfake!token{next(self._token_numbers)}"
        self.tokens.add(token)
        return Reply(200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                           "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)), "signature": "fake",
                           "id": f"{self.url}/id/00Dfake/005fake"})

    def _jwt_problem(self, assertion: str) -> str | None:
        import jwt

        if not self.jwt_public_key:
            return "no certificate uploaded for this connected app"
        try:
            claims = jwt.decode(assertion, self.jwt_public_key, algorithms=["RS256"], audience=self.url,
                                options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.PyJWTError as exc:
            return f"invalid assertion ({type(exc).__name__})"
        if claims["iss"] != self.client_id:
            return "invalid client identifier"
        if claims["sub"] not in self.usernames:
            return "user hasn't approved this consumer"
        return None

    def _describe(self, sobject: str) -> Reply:
        if sobject not in self.fields:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return Reply(200, {"name": sobject, "label": sobject, "queryable": True, "fields": [
            {"name": name, "label": name.removesuffix("__c").replace("_", " "), "type": _field_type(name),
             "custom": name.endswith("__c"), "nillable": name not in ("Id", "IsDeleted", "SystemModstamp")}
            for name in self.fields[sobject]]})

    def _query(self, version: str, soql: str, include_deleted: bool, batch: int) -> Reply:
        parsed = SOQL.match(soql)
        if not parsed:
            return _error(400, "MALFORMED_QUERY", f"unexpected token in query: {soql[:80]}")
        sobject = parsed.group("object")
        table = self.tables.get(sobject)
        if table is None:
            return _error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        fields = [f.strip() for f in parsed.group("fields").split(",")]
        known = set(self.fields[sobject])
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
