"""A fake of the Salesforce REST API the connector and the nurture push use, serving a ``Dataset``.

- ``POST /services/oauth2/token``: the client credentials, refresh token (``refresh_tokens``)
  and JWT bearer (an RS256 assertion signed by the key whose public half is ``jwt_public_key``,
  ``iss`` the consumer key, ``sub`` a username of ``usernames``, ``aud`` the fake's URL) flows,
  returning ``access_token`` and ``instance_url``, or ``invalid_grant``/``invalid_client``;
  ``expire_tokens()`` makes every issued token fail with INVALID_SESSION_ID;
- ``GET /services/data/vXX.X/sobjects/{sObject}/describe``: the object's fields (name, type,
  label, custom, nillable) as this org has them;
- ``GET /services/data/vXX.X/query`` and ``/queryAll`` with ``q=<SOQL>``: SELECT fields FROM
  object, WHERE comparisons (``= != < <= > >=``, ``IN (...)``, ``NOT IN (...)``) joined by AND,
  ORDER BY, LIMIT; string literals take SOQL's escape sequences (``\\'``, ``\\\\``, ``\\n``...)
  and compare case-insensitively, ids exactly; ``queryAll`` includes deleted rows; a field the
  org lacks fails the whole query with ``INVALID_FIELD``, as the real API does;
  ``Sforce-Query-Options: batchSize=N`` (200 to 2000) sets the page size, and
  ``nextRecordsUrl`` / ``done`` page through a server-side cursor;
- ``POST /services/data/vXX.X/sobjects/{Campaign|CampaignMember}``: create one record, 201
  ``{"id", "success": true, "errors": []}`` or 400 with the record's error;
- ``POST /services/data/vXX.X/composite/sobjects`` (sObject Collections create, up to 200
  records, ``allOrNone``) and ``DELETE .../composite/sobjects?ids=a,b&allOrNone=false`` (up to 200
  ids): one ``{"id", "success", "errors": [{"statusCode", "message", "fields"}]}`` per record, in
  order; a failed create has no ``id``, a record rolled back by ``allOrNone`` says
  ``ALL_OR_NONE_OPERATION_ROLLED_BACK``. CampaignMember follows Salesforce's rules: a lead or
  contact already in the campaign is ``DUPLICATE_VALUE``, a converted lead
  ``CANNOT_UPDATE_CONVERTED_LEAD``, an unknown id ``INVALID_CROSS_REFERENCE_KEY``, a deleted one
  ``ENTITY_IS_DELETED``, a malformed one ``MALFORMED_ID``; with both ContactId and LeadId only
  the ContactId is kept. A delete marks the record ``IsDeleted`` (``queryAll`` still serves it);
- errors in Salesforce's shape: ``[{"message": ..., "errorCode": ...}]``.

Records created or deleted through the API land in the tables the queries serve, stamped
(``CreatedDate``, ``LastModifiedDate``, ``SystemModstamp``) by ``now``, a callable returning an
aware datetime (real time unless a test sets it). Test helpers, not HTTP: ``campaign_members``,
``set_opt_out``, ``convert_lead``.

The org's schema is its own (``ORG_FIELDS``, written from Salesforce's object reference, not
from the connector's field lists): ``CurrencyIsoCode`` exists only with ``multi_currency``, and
a custom field (``__c``) only when declared in ``custom_fields`` or present in a record put.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from smarketing.demo.fakes.server import FakeApi, Reply
from smarketing.demo.world import Dataset

QUERY_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/(query|queryAll)(?:/([\w-]+))?$")
DESCRIBE_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/sobjects/(\w+)/describe$")
SOBJECT_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/sobjects/(\w+)/?$")
COLLECTIONS_PATH = re.compile(r"^/services/data/v(\d+\.\d+)/composite/sobjects/?$")
COLLECTION_LIMIT = 200  # records (create) or ids (delete) in one sObject Collections request
WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
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


# Objects the API of this fake creates records of, with their key prefix (the first three
# characters of every id of the object).
CREATABLE = {"Campaign": "701", "CampaignMember": "00v"}
# Fields the API sets itself: a create that names one is refused (INVALID_FIELD_FOR_INSERT_UPDATE).
READ_ONLY = {
    "Campaign": frozenset({"IsDeleted", *_AUDIT}),
    # HasResponded follows Status; FirstRespondedDate is set when it first becomes a responded status
    "CampaignMember": frozenset({"IsDeleted", "HasResponded", "FirstRespondedDate", *_AUDIT}),
}
# reference field -> (its label, the object it refers to)
REFERENCES = {
    ("Campaign", "ParentId"): ("Parent Campaign ID", "Campaign"),
    ("CampaignMember", "CampaignId"): ("Campaign ID", "Campaign"),
    ("CampaignMember", "ContactId"): ("Contact ID", "Contact"),
    ("CampaignMember", "LeadId"): ("Lead ID", "Lead"),
}
ROLLED_BACK = ("ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "Record rolled back because not all records were valid and the request was using AllOrNone header")
TOO_MANY = ("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
Staged = dict[str, dict[str, dict[str, Any]]]  # records checked, not yet committed: sObject -> id -> record


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Reply:
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = fields
    return Reply(status, [error])


def _record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One error of a SaveResult/DeleteResult (sObject Collections say ``statusCode``)."""
    return {"statusCode": code, "message": message, "fields": fields or []}


def _case_safe(id15: str) -> str:
    """The 18-character form of a 15-character id: one suffix letter per 5 characters, whose bits
    say which of them are upper case."""
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def _stamp(ts: datetime) -> str:
    """Salesforce's datetime form, 2026-06-04T11:00:00.000+0000."""
    ts = ts.astimezone(UTC)
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}+0000"


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
    if op == "IN":
        return any(left == value for value in right)
    if op == "NOT IN":
        return all(left != value for value in right)
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


# --- SOQL -------------------------------------------------------------------------------------
class SoqlError(ValueError):
    """A query this fake cannot read (MALFORMED_QUERY)."""


# Quoted string escape sequences (SOQL and SOSL reference); any other backslash is an error.
_ESCAPES = {"n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t", "T": "\t", "b": "\a", "B": "\a",
            "f": "\f", "F": "\f", '"': '"', "'": "'", "\\": "\\"}
_OPERATOR = re.compile(r"<=|>=|!=|=|<|>")
_ATOM = re.compile(r"[^\s(),'=<>!]+")


def _tokens(soql: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: ``str`` (a quoted literal, unescaped), ``op``, ``(``, ``)``, ``,`` and
    ``atom`` (keywords, names, numbers, dates, true/false/null)."""
    out: list[tuple[str, str]] = []
    i, end = 0, len(soql)
    while i < end:
        ch = soql[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            i, text = _string(soql, i + 1)
            out.append(("str", text))
        elif op := _OPERATOR.match(soql, i):
            out.append(("op", op.group()))
            i = op.end()
        elif ch in "(),":
            out.append((ch, ch))
            i += 1
        elif atom := _ATOM.match(soql, i):
            out.append(("atom", atom.group()))
            i = atom.end()
        else:
            raise SoqlError(f"unexpected token: '{ch}'")
    return out


def _string(soql: str, i: int) -> tuple[int, str]:
    """The literal starting after the quote at ``i - 1``: (index after its closing quote, text)."""
    chars: list[str] = []
    while i < len(soql):
        ch = soql[i]
        if ch == "'":
            return i + 1, "".join(chars)
        if ch == "\\":
            code = soql[i + 1:i + 2]
            if code == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", soql[i + 2:i + 6]):
                chars.append(chr(int(soql[i + 2:i + 6], 16)))
                i += 6
                continue
            if code not in _ESCAPES:  # \_ and \% belong to LIKE, which this fake does not read
                raise SoqlError(f"Invalid string literal '{soql[i:i + 2]}'. Illegal character sequence")
            chars.append(_ESCAPES[code])
            i += 2
            continue
        chars.append(ch)
        i += 1
    raise SoqlError("unterminated string literal")


@dataclass
class Soql:
    fields: list[str]
    sobject: str
    where: list[tuple[str, str, Any]] = field(default_factory=list)  # (field, operator, value) joined by AND
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None


def parse_soql(soql: str) -> Soql:
    """SELECT a, b FROM Object [WHERE cond AND cond ...] [ORDER BY a [ASC|DESC], ...] [LIMIT n]."""
    tokens = _tokens(soql)
    pos = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        return tokens[pos + offset] if pos + offset < len(tokens) else ("end", "")

    def take(kind: str | None = None) -> str:
        nonlocal pos
        got_kind, text = peek()
        if got_kind == "end" or (kind is not None and got_kind != kind):
            raise SoqlError(f"unexpected token: '{text}'" if text else "unexpected end of query")
        pos += 1
        return text

    def keyword(*words: str) -> bool:
        """The next tokens are these keywords (case-insensitive); take them if so."""
        nonlocal pos
        if all(peek(n)[0] == "atom" and peek(n)[1].upper() == word for n, word in enumerate(words)):
            pos += len(words)
            return True
        return False

    def literal() -> Any:
        kind, text = peek()
        take()
        if kind == "str":
            return text
        if kind == "atom":
            return _value(text)
        raise SoqlError(f"unexpected token: '{text}'")

    def name() -> str:
        text = take("atom")
        if not re.fullmatch(r"[A-Za-z]\w*", text):
            raise SoqlError(f"unexpected token: '{text}'")
        return text

    if not keyword("SELECT"):
        raise SoqlError("unexpected token: expecting SELECT")
    query = Soql(fields=[name()], sobject="")
    while peek()[0] == ",":
        take(",")
        query.fields.append(name())
    if not keyword("FROM"):
        raise SoqlError(f"unexpected token: '{peek()[1]}'")
    query.sobject = name()
    if keyword("WHERE"):
        while True:
            column = name()
            if peek()[0] == "op":
                query.where.append((column, take("op"), literal()))
            else:
                negated = keyword("NOT", "IN")
                if not negated and not keyword("IN"):
                    raise SoqlError(f"unexpected token: '{peek()[1]}'")
                take("(")
                values = [literal()]
                while peek()[0] == ",":
                    take(",")
                    values.append(literal())
                take(")")
                query.where.append((column, "NOT IN" if negated else "IN", values))
            if keyword("AND"):
                continue
            if peek()[0] == "atom" and peek()[1].upper() == "OR":
                raise SoqlError("this fake reads conditions joined by AND only")
            break
    if keyword("ORDER", "BY"):
        while True:
            column = name()
            descending = keyword("DESC")
            if not descending:
                keyword("ASC")
            query.order.append((column, descending))
            if peek()[0] != ",":
                break
            take(",")
    if keyword("LIMIT"):
        text = take("atom")
        if not text.isdigit():
            raise SoqlError(f"unexpected token: '{text}'")
        query.limit = int(text)
    if peek()[0] != "end":
        raise SoqlError(f"unexpected token: '{peek()[1]}'")
    return query


class FakeSalesforce(FakeApi):
    def __init__(self, dataset: Dataset | None = None, client_id: str = "demo-consumer-key",
                 client_secret: str = "demo-consumer-secret", rate_limit: tuple[int, float] | None = None,
                 multi_currency: bool = True, custom_fields: dict[str, list[str]] | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        super().__init__(rate_limit)
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.jwt_public_key: str | None = None
        self.usernames: set[str] = set()
        # the clock of records created, changed and deleted here (an aware datetime)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.api_user_id = "005Fk00000000ApAAA"  # CreatedById/LastModifiedById/OwnerId of API writes
        # every campaign has a default member status and one that counts as responded (CampaignMemberStatus):
        # these are the fake's, for every campaign
        self.default_member_status = "Sent"
        self.responded_statuses = {"Responded"}
        self._token_numbers = itertools.count(1)
        self._cursor_numbers = itertools.count(1)
        self._record_numbers = itertools.count(1)
        self._data = threading.RLock()  # one writer or reader of the tables at a time
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
        with self._data:
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
        one = SOBJECT_PATH.match(path)
        if one and method == "POST":
            return self._create_one(one.group(2), body)
        if COLLECTIONS_PATH.match(path) and method == "POST":
            return self._create_many(body)
        if COLLECTIONS_PATH.match(path) and method == "DELETE":
            return self._delete_many(query)
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


    # --- SOQL -----------------------------------------------------------------------------------
    def _query(self, version: str, soql: str, include_deleted: bool, batch: int) -> Reply:
        try:
            parsed = parse_soql(soql)
        except SoqlError as exc:
            return _error(400, "MALFORMED_QUERY", str(exc))
        sobject = parsed.sobject
        table = self.tables.get(sobject)
        if table is None:
            return _error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        names = {name.lower(): name for name in self.fields[sobject]}  # field names are case-insensitive
        for name in [*parsed.fields, *(c for c, _, _ in parsed.where), *(c for c, _ in parsed.order)]:
            if name.lower() not in names:
                return _error(400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'.")
        fields = [names[f.lower()] for f in parsed.fields]
        with self._data:
            rows = [r for r in table.values() if include_deleted or not r.get("IsDeleted")]
            for column, op, right in parsed.where:
                rows = [r for r in rows if _matches(r, names[column.lower()], op, right)]
            for column, descending in reversed(parsed.order):
                def order_key(r: dict[str, Any], n: str = names[column.lower()]) -> tuple[bool, Any]:
                    value = _field(r, n)
                    return value is None, value or 0

                rows.sort(key=order_key, reverse=descending)
            if parsed.limit is not None:
                rows = rows[: parsed.limit]
            shaped = [{"attributes": {"type": sobject,
                                      "url": f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}"},
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

    # --- writes ---------------------------------------------------------------------------------
    def _create_one(self, sobject: str, body: Any) -> Reply:
        """POST /sobjects/{sObject}: 201 with the new id, or 400 with the record's error."""
        if sobject not in self.fields:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if sobject not in CREATABLE:
            return _error(501, "FAKE_NOT_IMPLEMENTED", f"this fake creates {' and '.join(CREATABLE)} records only")
        if not isinstance(body, dict):
            return _error(400, "JSON_PARSER_ERROR", "The request body is not a JSON object")
        values, unknown = self._canonical(sobject, body)
        if unknown is not None:
            return _error(400, "INVALID_FIELD", f"No such column '{unknown}' on sobject of type {sobject}")
        with self._data:
            staged: Staged = {}
            record_id, errors = self._stage(sobject, values, staged, self.now())
            if record_id is None:
                return Reply(400, [{"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
                                   for e in errors])
            self._commit(staged)
        return Reply(201, {"id": record_id, "success": True, "errors": []})

    def _create_many(self, body: Any) -> Reply:
        """POST /composite/sobjects: one SaveResult per record, in order."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            return _error(400, "JSON_PARSER_ERROR", "The request body needs a records list")
        if len(body["records"]) > COLLECTION_LIMIT:
            return _error(400, *TOO_MANY)
        parsed: list[tuple[str, dict[str, Any]]] = []
        for raw in body["records"]:
            attributes = raw.get("attributes") if isinstance(raw, dict) else None
            sobject = attributes.get("type") if isinstance(attributes, dict) else None
            if not isinstance(sobject, str) or sobject not in self.fields:
                return _error(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported."
                              if sobject else "Each record needs an attributes map with its type")
            if sobject not in CREATABLE:
                return _error(501, "FAKE_NOT_IMPLEMENTED", f"this fake creates {' and '.join(CREATABLE)} records only")
            values, unknown = self._canonical(sobject, raw)
            if unknown is not None:
                return _error(400, "INVALID_FIELD", f"No such column '{unknown}' on sobject of type {sobject}")
            parsed.append((sobject, values))
        now = self.now()
        with self._data:
            staged: Staged = {}
            results: list[dict[str, Any]] = []
            for sobject, values in parsed:
                record_id, errors = self._stage(sobject, values, staged, now)
                results.append({"id": record_id, "success": True, "errors": []} if record_id is not None
                               else {"success": False, "errors": errors})
            if body.get("allOrNone") is True and not all(r["success"] for r in results):
                results = [r if not r["success"] else {"success": False, "errors": [_record_error(*ROLLED_BACK)]}
                           for r in results]
            else:
                self._commit(staged)
        return Reply(200, results)

    def _delete_many(self, query: dict[str, str]) -> Reply:
        """DELETE /composite/sobjects?ids=...: one DeleteResult per id, in order."""
        ids = [i.strip() for i in query.get("ids", "").split(",") if i.strip()]
        if not ids:
            return _error(400, "MISSING_ARGUMENT", "ids: a list of record ids is required")
        if len(ids) > COLLECTION_LIMIT:
            return _error(400, *TOO_MANY)
        now = self.now()
        with self._data:
            doomed: dict[str, str] = {}  # id -> its sObject
            results: list[dict[str, Any]] = []
            for record_id in ids:
                sobject = self._deletable(record_id)
                if not WELL_FORMED_ID.match(record_id):
                    results.append({"success": False,
                                    "errors": [_record_error("MALFORMED_ID", f"malformed id {record_id}")]})
                elif sobject is None:
                    results.append({"id": record_id, "success": False, "errors": [
                        _record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]})
                elif record_id in doomed or self.tables[sobject][record_id].get("IsDeleted"):
                    results.append({"id": record_id, "success": False,
                                    "errors": [_record_error("ENTITY_IS_DELETED", "entity is deleted")]})
                else:
                    doomed[record_id] = sobject
                    results.append({"id": record_id, "success": True, "errors": []})
            if query.get("allOrNone", "").lower() == "true" and not all(r["success"] for r in results):
                results = [r if not r["success"] else {**r, "success": False, "errors": [_record_error(*ROLLED_BACK)]}
                           for r in results]
            else:
                for record_id, sobject in doomed.items():
                    self._touch(sobject, record_id, now, IsDeleted=True)
                    if sobject == "Campaign":  # a campaign's members go with it
                        for member in list(self.tables["CampaignMember"].values()):
                            if member.get("CampaignId") == record_id and not member.get("IsDeleted"):
                                self._touch("CampaignMember", member["Id"], now, IsDeleted=True)
        return Reply(200, results)

    def _canonical(self, sobject: str, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The record's values by the fields' API names (the API reads names case-insensitively),
        or the first name the object lacks."""
        names = {name.lower(): name for name in self.fields[sobject]}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "attributes":
                continue
            if key.lower() not in names:
                return {}, key
            values[names[key.lower()]] = value
        return values, None

    def _stage(self, sobject: str, values: dict[str, Any], staged: Staged,
               now: datetime) -> tuple[str | None, list[dict[str, Any]]]:
        """Check one record to create and add it to ``staged``: (its new id, []) or (None, its errors)."""
        if "Id" in values:
            return None, [_record_error("INVALID_FIELD", "The Id field should not be specified in the sobject data.")]
        fixed = sorted(set(values) & READ_ONLY[sobject])
        if fixed:
            return None, [_record_error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(fixed)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.", fixed)]
        values = dict(values)
        check = self._check_campaign if sobject == "Campaign" else self._check_campaign_member
        problem = check(values, staged, now)
        if problem is not None:
            return None, [problem]
        record_id = self._new_id(sobject)
        stamp = _stamp(now)
        staged.setdefault(sobject, {})[record_id] = {
            "attributes": {"type": sobject}, "Id": record_id, **values, "IsDeleted": False,
            "CreatedDate": stamp, "CreatedById": self.api_user_id, "LastModifiedDate": stamp,
            "LastModifiedById": self.api_user_id, "SystemModstamp": stamp}
        return record_id, []

    def _check_campaign(self, values: dict[str, Any], staged: Staged,
                        now: datetime) -> dict[str, Any] | None:
        if not values.get("Name"):
            return _record_error("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])
        if values.get("ParentId") is not None:
            problem = self._reference("Campaign", "ParentId", values["ParentId"], staged)
            if problem is not None:
                return problem
        values.setdefault("IsActive", False)
        values.setdefault("OwnerId", self.api_user_id)
        return None

    def _check_campaign_member(self, values: dict[str, Any], staged: Staged,
                               now: datetime) -> dict[str, Any] | None:
        if not values.get("CampaignId"):
            return _record_error("REQUIRED_FIELD_MISSING", "Required fields are missing: [CampaignId]", ["CampaignId"])
        contact, lead = values.get("ContactId"), values.get("LeadId")
        if not contact and not lead:
            return _record_error("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]",
                                 ["ContactId", "LeadId"])
        if contact:
            values["LeadId"] = None  # given both, Salesforce inserts the ContactId only
        person_field, person = ("ContactId", contact) if contact else ("LeadId", lead)
        for name in ("CampaignId", person_field):
            problem = self._reference("CampaignMember", name, values[name], staged)
            if problem is not None:
                return problem
        if person_field == "LeadId" and (self._find("Lead", str(person), staged) or {}).get("IsConverted"):
            return _record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        members = [*self.tables["CampaignMember"].values(), *staged.get("CampaignMember", {}).values()]
        if any(not m.get("IsDeleted") and m.get("CampaignId") == values["CampaignId"] and m.get(person_field) == person
               for m in members):
            return _record_error("DUPLICATE_VALUE", "Already a campaign member.")
        status = values.get("Status") or self.default_member_status
        responded = status in self.responded_statuses
        values.update(Status=status, HasResponded=responded,
                      FirstRespondedDate=now.astimezone(UTC).date().isoformat() if responded else None)
        return None

    def _reference(self, sobject: str, name: str, value: Any,
                   staged: Staged) -> dict[str, Any] | None:
        """The error of a reference field's value, if it has one."""
        label, target = REFERENCES[(sobject, name)]
        if not isinstance(value, str) or not WELL_FORMED_ID.match(value):
            return _record_error("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [name])
        record = self._find(target, value, staged)
        if record is None:
            return _record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if record.get("IsDeleted"):
            return _record_error("ENTITY_IS_DELETED", "entity is deleted")
        return None

    def _find(self, sobject: str, record_id: str, staged: Staged) -> dict[str, Any] | None:
        return self.tables[sobject].get(record_id) or staged.get(sobject, {}).get(record_id)

    def _commit(self, staged: Staged) -> None:
        for sobject, records in staged.items():
            self.tables[sobject].update(records)

    def _new_id(self, sobject: str) -> str:
        while True:
            candidate = _case_safe(f"{CREATABLE[sobject]}Fk{next(self._record_numbers):010d}")
            if all(candidate not in table for table in self.tables.values()):
                return candidate

    def _deletable(self, record_id: str) -> str | None:
        """The sObject of the record with this id, if this org has it and can delete it."""
        for sobject, table in self.tables.items():
            if record_id in table and "IsDeleted" in self.fields[sobject]:
                return sobject
        return None

    def _touch(self, sobject: str, record_id: str, now: datetime, **changes: Any) -> None:
        """Change a record as an API user would: a new version (the dataset's payloads stay as they
        were) with LastModifiedDate and SystemModstamp at ``now``."""
        stamp = _stamp(now)
        self.tables[sobject][record_id] = {**self.tables[sobject][record_id], **changes, "LastModifiedDate": stamp,
                                           "LastModifiedById": self.api_user_id, "SystemModstamp": stamp}

    # --- test helpers (not HTTP) ----------------------------------------------------------------
    def campaign_members(self, campaign_name: str) -> set[str]:
        """The ContactId (else LeadId) of each live member of the one live campaign of this name."""
        with self._data:
            campaigns = [c["Id"] for c in self.tables["Campaign"].values()
                         if c.get("Name") == campaign_name and not c.get("IsDeleted")]
            if len(campaigns) != 1:
                raise KeyError(f"{len(campaigns)} live campaigns are named {campaign_name!r}")
            return {m.get("ContactId") or m["LeadId"] for m in self.tables["CampaignMember"].values()
                    if m.get("CampaignId") == campaigns[0] and not m.get("IsDeleted")}

    def set_opt_out(self, record_id: str, flag: bool = True) -> None:
        """A Lead or Contact opts out of email (or back in), a change the incremental extract sees."""
        with self._data:
            for sobject in ("Lead", "Contact"):
                if record_id in self.tables[sobject]:
                    self._touch(sobject, record_id, self.now(), HasOptedOutOfEmail=flag)
                    return
        raise KeyError(f"no Lead or Contact {record_id}")

    def convert_lead(self, lead_id: str, contact_id: str) -> None:
        """The lead is converted into this contact: it is read-only from then on (a campaign can no
        longer take it), and its campaign memberships name the contact too."""
        with self._data:
            lead, contact = self.tables["Lead"].get(lead_id), self.tables["Contact"].get(contact_id)
            if lead is None or lead.get("IsDeleted") or lead.get("IsConverted"):
                raise KeyError(f"no unconverted live Lead {lead_id}")
            if contact is None or contact.get("IsDeleted"):
                raise KeyError(f"no live Contact {contact_id}")
            now = self.now()
            self._touch("Lead", lead_id, now, IsConverted=True, Status="Closed - Converted",
                        ConvertedDate=now.astimezone(UTC).date().isoformat(), ConvertedContactId=contact_id,
                        ConvertedAccountId=contact.get("AccountId"))
            for member in list(self.tables["CampaignMember"].values()):
                if member.get("LeadId") == lead_id and not member.get("ContactId"):
                    self._touch("CampaignMember", member["Id"], now, ContactId=contact_id)


def _matches(record: dict[str, Any], name: str, op: str, right: Any) -> bool:
    """A WHERE comparison: ids exactly, other text case-insensitively (as SOQL compares them)."""
    exact = _field_type(name) in ("id", "reference")

    def norm(value: Any) -> Any:
        return value.casefold() if isinstance(value, str) and not exact else value

    return _compare(norm(_field(record, name)), op,
                    [norm(v) for v in right] if isinstance(right, list) else norm(right))
