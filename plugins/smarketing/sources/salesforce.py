"""Salesforce REST API: incremental SOQL through ``queryAll``, so deleted rows arrive too.

Each entity is one SOQL query ``... WHERE SystemModstamp >= <bookmark> ORDER BY SystemModstamp,
Id``, followed through ``nextRecordsUrl`` until ``done``. The object is described first (one
call per object and run) and the query asks only for the fields this org has: an org without
multi-currency has no ``CurrencyIsoCode``, a custom field may be missing or deleted, and the
API fails a whole query over one unknown field. A missing field is one warning per run and is
listed in ``missing_fields``; only a missing ``Id`` or ``SystemModstamp`` stops the entity.

Authentication, by what the connection holds (host = the org's My Domain or login URL):

- ``extra.access_token`` (with ``instance_url``): a ready session, used as is;
- ``extra.private_key`` or ``extra.private_key_file`` with ``extra.username``: the OAuth 2.0 JWT
  bearer flow of a connected app (login = consumer key; ``extra.audience`` defaults to the host);
- ``extra.refresh_token``: the refresh token flow (login = consumer key, password = secret);
- otherwise the client credentials flow (login = consumer key, password = consumer secret).

An expired session (401) gets a new token once; a refused grant fails at once.

Connection ``salesforce_default``, e.g.::

    AIRFLOW_CONN_SALESFORCE_DEFAULT='{"conn_type": "http", "host": "https://acme.my.salesforce.com",
        "login": "<consumer key>", "password": "<consumer secret>",
        "extra": {"api_version": "62.0", "batch_size": 2000, "max_calls_per_run": 5000}}'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from smarketing.config import ConnectionInfo, get_connection
from smarketing.sources.base import RawRecord, SourceError
from smarketing.sources.http_client import ApiError, AuthError, CallBudget, HttpClient, RetryPolicy

log = logging.getLogger(__name__)
CONN_ID = "salesforce_default"
REQUIRED_FIELDS = ("Id", "SystemModstamp")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
API_VERSION = "62.0"

# entity -> (sObject, fields). Custom fields are added in config/sources.yaml (salesforce.extra_fields).
OBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "accounts": ("Account", ("Id", "Name", "Website", "Industry", "NumberOfEmployees", "AnnualRevenue",
                             "BillingCountry", "OwnerId", "CreatedDate", "SystemModstamp", "IsDeleted")),
    "leads": ("Lead", ("Id", "Email", "FirstName", "LastName", "Company", "Title", "Phone", "MobilePhone", "City",
                       "LeadSource", "Status",
                       "IsConverted", "ConvertedDate", "ConvertedContactId", "ConvertedAccountId",
                       "ConvertedOpportunityId", "HasOptedOutOfEmail", "OwnerId", "CreatedDate",
                       "SystemModstamp", "IsDeleted")),
    "contacts": ("Contact", ("Id", "AccountId", "Email", "FirstName", "LastName", "Title", "Phone", "MobilePhone",
                             "MailingCity", "LeadSource",
                             "HasOptedOutOfEmail", "DoNotCall", "OwnerId", "CreatedDate", "SystemModstamp",
                             "IsDeleted")),
    "opportunities": ("Opportunity", ("Id", "AccountId", "ContactId", "Name", "StageName", "Amount",
                                      "CurrencyIsoCode", "Probability", "CloseDate", "IsClosed", "IsWon",
                                      "LeadSource", "Type", "OwnerId", "CampaignId", "CreatedDate",
                                      "SystemModstamp", "IsDeleted")),
    "opportunity_history": ("OpportunityHistory", ("Id", "OpportunityId", "StageName", "Amount", "Probability",
                                                   "CloseDate", "CreatedDate", "SystemModstamp", "IsDeleted")),
    "tasks": ("Task", ("Id", "WhoId", "WhatId", "OwnerId", "Subject", "Type", "TaskSubtype", "Status",
                       "ActivityDate", "CreatedDate", "SystemModstamp", "IsDeleted")),
    "events": ("Event", ("Id", "WhoId", "WhatId", "OwnerId", "Subject", "Type", "StartDateTime",
                         "EndDateTime", "CreatedDate", "SystemModstamp", "IsDeleted")),
    "campaigns": ("Campaign", ("Id", "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "ParentId",
                               "CreatedDate", "SystemModstamp", "IsDeleted")),
    "campaign_members": ("CampaignMember", ("Id", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded",
                                            "FirstRespondedDate", "CreatedDate", "SystemModstamp", "IsDeleted")),
    # sales reps, who own records; users are deactivated (IsActive), never deleted
    "users": ("User", ("Id", "Name", "FirstName", "LastName", "Email", "Title", "IsActive", "CreatedDate",
                       "SystemModstamp")),
    # exchange rates of a multi-currency org (an org without it has neither object: nothing to read)
    "currency_types": ("CurrencyType", ("Id", "IsoCode", "ConversionRate", "IsCorporate", "IsActive",
                                        "SystemModstamp")),
    "dated_conversion_rates": ("DatedConversionRate", ("Id", "IsoCode", "ConversionRate", "StartDate",
                                                       "NextStartDate", "SystemModstamp")),
}
# Objects only some orgs have: without them the entity is read as empty, with one warning.
OPTIONAL_OBJECTS = ("CurrencyType", "DatedConversionRate")


def parse_sf_datetime(value: str) -> datetime:
    """Salesforce datetimes look like 2026-06-04T11:00:00.000+0000."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def soql_datetime(ts: datetime) -> str:
    """A SOQL datetime literal (whole seconds, rounded down: the bound stays inclusive)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Auth:
    """Gets and renews the session of one connection (the flows of the module docstring)."""

    JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def __init__(self, conn: ConnectionInfo, budget: CallBudget, session: requests.Session,
                 timeout: float) -> None:
        self.conn, self.budget, self.session, self.timeout = conn, budget, session, timeout
        self.token = conn.extra.get("access_token") or ""
        self.instance_url = (conn.extra.get("instance_url") or conn.host).rstrip("/")
        self.static = bool(self.token)

    def headers(self) -> dict[str, str]:
        if not self.token:
            self._fetch_token()
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> bool:
        if self.static:
            return False
        self._fetch_token()
        return True

    def _grant(self) -> tuple[str, dict[str, str]]:
        """(flow name, token request form) for what the connection holds."""
        extra, conn = self.conn.extra, self.conn
        key_text = extra.get("private_key") or ""
        if not key_text and extra.get("private_key_file"):
            key_text = Path(str(extra["private_key_file"])).read_text()
        if key_text:
            import jwt

            if not (conn.login and extra.get("username")):
                raise AuthError(f"Salesforce connection '{conn.conn_id}': the JWT bearer flow needs the consumer key as"
                                f" login and extra.username; set {conn.env_var}")
            now = datetime.now(UTC)
            assertion = jwt.encode({"iss": conn.login, "sub": extra["username"],
                                    "aud": str(extra.get("audience") or conn.host).rstrip("/"),
                                    "exp": int((now + timedelta(minutes=3)).timestamp())}, key_text, algorithm="RS256")
            return "JWT bearer", {"grant_type": self.JWT_BEARER, "assertion": assertion}
        if not conn.login:
            raise AuthError(
                f"Salesforce connection '{conn.conn_id}' has no access_token, private_key or consumer key (login);"
                f" set {conn.env_var}")
        if extra.get("refresh_token"):
            form = {"grant_type": "refresh_token", "client_id": conn.login, "refresh_token": extra["refresh_token"]}
            return "refresh token", {**form, **({"client_secret": conn.password} if conn.password else {})}
        if not conn.password:
            raise AuthError(
                f"Salesforce connection '{conn.conn_id}' has neither an access_token in its extra nor a "
                f"consumer key and secret (login, password); set {conn.env_var}"
            )
        return "client credentials", {"grant_type": "client_credentials", "client_id": conn.login,
                                      "client_secret": conn.password}

    def _fetch_token(self) -> None:
        flow, form = self._grant()
        self.budget.spend("salesforce POST /services/oauth2/token")
        response = self.session.post(f"{self.conn.host.rstrip('/')}/services/oauth2/token", data=form,
                                     timeout=self.timeout)
        if response.status_code != 200:
            try:
                reason = response.json().get("error_description") or response.json().get("error")
            except ValueError:
                reason = response.reason
            raise AuthError(
                f"Salesforce refused the {flow} grant of connection '{self.conn.conn_id}' "
                f"(HTTP {response.status_code}: {reason}); check {self.conn.env_var}",
                response.status_code,
            )
        body = response.json()
        self.token = body["access_token"]
        self.instance_url = body.get("instance_url", self.instance_url).rstrip("/")


class SalesforceSource:
    """Salesforce objects as ``Source`` entities (see ``OBJECTS``)."""

    name = "salesforce"
    whole_on_full_read = tuple(OBJECTS)  # queryAll returns every record not yet purged

    def __init__(self, conn: ConnectionInfo, entities: tuple[str, ...] | None = None,
                 extra_fields: dict[str, list[str]] | None = None, policy: RetryPolicy | None = None,
                 budget: CallBudget | None = None) -> None:
        unknown = set(entities or ()) - set(OBJECTS)
        if unknown:
            raise SourceError(f"Salesforce has no entity {sorted(unknown)}; known: {sorted(OBJECTS)}")
        self.entities = tuple(entities or OBJECTS)
        self.extra_fields = extra_fields or {}
        for entity, names in self.extra_fields.items():
            bad = [n for n in names if not FIELD_NAME.match(n)]
            if bad or entity not in OBJECTS:
                raise SourceError(f"salesforce.extra_fields[{entity!r}] in config/sources.yaml: {bad or entity!r} "
                                  "is not a known entity or a plain field name (letters, digits, _)")
        self.missing_fields: dict[str, list[str]] = {}  # entity -> requested fields this org lacks
        self._described: dict[str, set[str]] = {}
        self.api_version = str(conn.extra.get("api_version", API_VERSION))
        self.batch_size = int(conn.extra.get("batch_size", 2000))
        self.budget = budget or CallBudget(int(conn.extra.get("max_calls_per_run", 5000)))
        policy = policy or RetryPolicy()
        session = requests.Session()
        self._auth = _Auth(conn, self.budget, session, policy.timeout)
        self.client = HttpClient(
            system="salesforce", conn_id=conn.conn_id, base_url="", authorize=self._auth.headers,
            budget=self.budget, policy=policy, refresh=self._auth.refresh, session=session,
        )

    @classmethod
    def from_connection(cls, conn_id: str = CONN_ID, **kwargs) -> SalesforceSource:
        return cls(get_connection(conn_id), **kwargs)

    def instance_url(self) -> str:
        """The org's URL (after authenticating, which this may do)."""
        return str(self._auth.instance_url)

    def api_url(self, path: str) -> str:
        """The REST API's URL of ``path`` (``/query``, ``/sobjects/Campaign``) in this org."""
        return f"{self.instance_url()}/services/data/v{self.api_version}{path}"

    def fields(self, entity: str) -> list[str]:
        """The fields to ask for: those the entity reads (its own and the configured custom ones)
        that the org has, after one describe call per object and source."""
        sobject, own = OBJECTS[entity]
        wanted = list(dict.fromkeys([*own, *self.extra_fields.get(entity, [])]))
        if sobject not in self._described:
            try:
                body = self.client.request(
                    "GET", f"{self._auth.instance_url}/services/data/v{self.api_version}/sobjects/{sobject}/describe")
            except ApiError as exc:
                if exc.status != 404 or sobject not in OPTIONAL_OBJECTS:
                    raise
                log.warning("Salesforce: this org has no %s (multi-currency is off): %s is not read", sobject, entity)
                body = {"fields": []}
            self._described[sobject] = {f["name"] for f in body.get("fields", []) if isinstance(f, dict)}
        available = self._described[sobject]
        if not available and sobject in OPTIONAL_OBJECTS:
            return []
        lacking = [name for name in REQUIRED_FIELDS if name not in available]
        if lacking:
            raise SourceError(f"Salesforce {sobject} has no {', '.join(lacking)} in this org: it cannot be read "
                              "incrementally")
        missing = [name for name in wanted if name not in available]
        if missing and self.missing_fields.get(entity) != missing:
            log.warning("Salesforce %s has no field %s in this org: read without %s (check salesforce.extra_fields "
                        "in config/sources.yaml for a custom field)", sobject, ", ".join(missing),
                        "it" if len(missing) == 1 else "them")
        if missing:
            self.missing_fields[entity] = missing
        return [name for name in wanted if name in available]

    def fields_read(self, entity: str) -> list[str] | None:
        """The fields this run asked for (None before the entity was read)."""
        sobject, _ = OBJECTS[entity]
        return self.fields(entity) if sobject in self._described else None

    def soql(self, entity: str, since: datetime | None) -> str:
        sobject, _ = OBJECTS[entity]
        where = f" WHERE SystemModstamp >= {soql_datetime(since)}" if since else ""
        # Field names come from the describe call and match FIELD_NAME; the bound is a formatted datetime.
        columns = [name for name in self.fields(entity) if FIELD_NAME.match(name)]
        return f"SELECT {', '.join(columns)} FROM {sobject}{where} ORDER BY SystemModstamp ASC, Id ASC"  # noqa: S608

    def extract(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]:
        if entity not in OBJECTS:
            raise SourceError(f"Salesforce has no entity {entity!r}; known: {sorted(OBJECTS)}")
        if not self.fields(entity):  # an optional object this org lacks
            return
        headers = {"Sforce-Query-Options": f"batchSize={self.batch_size}"}
        body = self.client.request(
            "GET", f"{self._auth.instance_url}/services/data/v{self.api_version}/queryAll",
            params={"q": self.soql(entity, since)}, headers=headers,
        )
        while True:
            records = body.get("records")
            if records is None:
                raise SourceError(f"Salesforce {entity}: response without 'records'")
            yield [self._record(r) for r in records]
            if body.get("done", True):
                return
            next_url = body.get("nextRecordsUrl")
            if not next_url:
                raise SourceError(f"Salesforce {entity}: page says done=false but has no nextRecordsUrl")
            body = self.client.request("GET", f"{self._auth.instance_url}{next_url}", headers=headers)

    @staticmethod
    def _record(record: Any) -> RawRecord:
        try:
            return RawRecord(
                record_id=str(record["Id"]),
                version_at=parse_sf_datetime(record["SystemModstamp"]),
                payload=record,
                is_deleted=bool(record.get("IsDeleted")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SourceError(f"Salesforce record without a valid Id and SystemModstamp ({exc!r}): "
                              f"{str(record)[:200]}") from exc
