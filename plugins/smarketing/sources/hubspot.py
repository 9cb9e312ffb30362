"""HubSpot APIs: CRM objects through the v3 search endpoints, email events, archived records.

CRM objects (contacts, companies, deals) are read with ``POST /crm/v3/objects/{object}/search``
filtered on the modification timestamp (``lastmodifieddate`` for contacts, ``hs_lastmodifieddate``
otherwise) with ``GTE`` and sorted ascending, paged with ``after``. A search returns at most
10,000 results, so when a window reaches the cap the connector starts a new search from the last
timestamp it saw; records sharing that timestamp come again and landing ignores the versions it
has. Deals carry the history of their stage, amount and close date (``DEAL_HISTORY``, batch read
with ``propertiesWithHistory``) and their associated contacts and companies (v4 associations batch
read, under ``associations`` in the payload); line items carry their deal the same way (a token
without the products scope reads none, with one warning). Deal pipelines with their stages come
from ``/crm/v3/pipelines/deals``, sales reps from ``/crm/v3/owners`` (active and archived), each
read whole and landed when changed. Archived (deleted) records come from the list endpoint with
``archived=true`` and land as deletions; merged contacts carry ``hs_merged_object_ids``. Email
events come from ``GET /email/public/v1/events`` in time windows. Subscription statuses (with
their legal basis) are read per contact changed since the cursor from
``/communication-preferences/v3/status/email/{email}``, one call each, so they spend the call
budget in proportion to the contacts that changed; form submissions come per form from
``/form-integrations/v1/submissions/forms/{id}`` (newest first, read until older than the cursor);
email campaigns from ``/email/public/v1/campaigns``.

Connection ``hubspot_default`` (a private app's access token as the password), e.g.::

    AIRFLOW_CONN_HUBSPOT_DEFAULT='{"conn_type": "http", "host": "https://api.hubapi.com",
        "password": "<private app token>", "extra": {"page_size": 200, "max_calls_per_run": 5000}}'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from smarketing.config import ConnectionInfo, get_connection
from smarketing.sources.base import RawRecord, SourceError
from smarketing.sources.http_client import AuthError, CallBudget, HttpClient, RetryPolicy

log = logging.getLogger(__name__)
CONN_ID = "hubspot_default"
SEARCH_CAP = 10_000
MAX_PAGE_SIZE = 200

# entity -> (object type, modification property, properties to read)
CRM_OBJECTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "contacts": ("contacts", "lastmodifieddate", (
        "email", "firstname", "lastname", "company", "jobtitle", "phone", "mobilephone", "city", "hs_linkedin_url",
        "createdate", "lastmodifieddate",
        "lifecyclestage", "hs_lead_status", "hubspot_owner_id", "hs_analytics_source",
        "hs_analytics_source_data_1", "hs_lifecyclestage_lead_date",
        "hs_lifecyclestage_marketingqualifiedlead_date", "hs_lifecyclestage_salesqualifiedlead_date",
        "hs_lifecyclestage_customer_date", "hs_email_optout", "hs_merged_object_ids", "associatedcompanyid",
        "salesforceleadid", "salesforcecontactid",  # written by HubSpot's Salesforce integration
    )),
    "companies": ("companies", "hs_lastmodifieddate", (
        "name", "domain", "industry", "numberofemployees", "annualrevenue", "country", "createdate",
        "hs_lastmodifieddate", "hubspot_owner_id", "hs_merged_object_ids",
    )),
    "deals": ("deals", "hs_lastmodifieddate", (
        "dealname", "amount", "deal_currency_code", "dealstage", "pipeline", "closedate", "createdate",
        "hs_lastmodifieddate", "hs_is_closed", "hs_is_closed_won", "hubspot_owner_id", "hs_analytics_source",
        "hs_deal_stage_probability", "dealtype",
    )),
    # products sold on a deal (portals with products; a token without the scope reads none)
    "line_items": ("line_items", "hs_lastmodifieddate", (
        "name", "quantity", "price", "amount", "hs_product_id", "hs_sku", "hs_line_item_currency_code",
        "createdate", "hs_lastmodifieddate",
    )),
}
# The associations each CRM object carries under ``associations`` in its payload.
ASSOCIATIONS = {"deals": ("contacts", "companies"), "line_items": ("deals",)}
EMAIL_EVENTS = "email_events"
OTHER_ENTITIES = (EMAIL_EVENTS, "subscription_statuses", "form_submissions", "campaigns", "deal_pipelines", "owners")
ENTITIES = (*CRM_OBJECTS, *OTHER_ENTITIES)


def parse_hs_datetime(value: Any) -> datetime:
    """HubSpot timestamps are ISO 8601 strings (CRM) or epoch milliseconds (events, filters)."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def epoch_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def client(conn: ConnectionInfo, policy: RetryPolicy | None = None, budget: CallBudget | None = None) -> HttpClient:
    """The HTTP client of a HubSpot connection (private app token as its password): the source
    extracts through it, the nurture push writes lists through it."""
    if not conn.password:
        raise AuthError(f"HubSpot connection '{conn.conn_id}' has no token; set it as the password in "
                        f"{conn.env_var}")
    token = conn.password
    return HttpClient(
        system="hubspot", conn_id=conn.conn_id, base_url=(conn.host or "https://api.hubapi.com").rstrip("/"),
        authorize=lambda: {"Authorization": f"Bearer {token}"},
        budget=budget or CallBudget(int(conn.extra.get("max_calls_per_run", 5000))),
        policy=policy or RetryPolicy(),
    )


# the deal properties whose history the warehouse keeps: a pipeline snapshot of a past day and a
# deal as of a past date read stage, amount and close date as they were then
DEAL_HISTORY = ("dealstage", "amount", "closedate")


class HubSpotSource:
    """HubSpot objects and email events as ``Source`` entities."""

    name = "hubspot"
    # what a read from the beginning returns whole (live and archived), so a record it lacks is gone
    whole_on_full_read = (*CRM_OBJECTS, "deal_pipelines", "owners")

    def __init__(self, conn: ConnectionInfo, entities: tuple[str, ...] | None = None,
                 policy: RetryPolicy | None = None, budget: CallBudget | None = None,
                 now: datetime | None = None, extra_properties: dict[str, list[str]] | None = None) -> None:
        self.client = client(conn, policy, budget)
        self.budget = self.client.budget
        unknown = set(entities or ()) - set(ENTITIES)
        if unknown:
            raise SourceError(f"HubSpot has no entity {sorted(unknown)}; known: {list(ENTITIES)}")
        self.entities = tuple(entities or ENTITIES)
        self.extra_properties = extra_properties or {}  # custom properties to read, per CRM object
        unknown = set(self.extra_properties) - set(CRM_OBJECTS)
        if unknown:
            raise SourceError(f"HubSpot custom properties are read for {list(CRM_OBJECTS)}, not {sorted(unknown)}")
        extra = conn.extra
        self.page_size = min(int(extra.get("page_size", 100)), MAX_PAGE_SIZE)
        self.search_cap = int(extra.get("search_cap", SEARCH_CAP))
        self.events_window = timedelta(days=int(extra.get("events_window_days", 30)))
        self.backfill_start = parse_hs_datetime(extra.get("backfill_start", "2020-01-01T00:00:00Z"))
        self.now = now

    @classmethod
    def from_connection(cls, conn_id: str = CONN_ID, **kwargs) -> HubSpotSource:
        return cls(get_connection(conn_id), **kwargs)

    def extract(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]:
        if entity == EMAIL_EVENTS:
            yield from self._email_events(since)
        elif entity == "subscription_statuses":
            yield from self._subscription_statuses(since)
        elif entity == "form_submissions":
            yield from self._form_submissions(since)
        elif entity == "campaigns":
            yield from self._campaigns(since)
        elif entity == "deal_pipelines":
            yield from self._pipelines(since)
        elif entity == "owners":
            yield from self._owners(since)
        elif entity == "line_items":
            try:
                yield from self._search(entity, since)
                yield from self._archived(entity, since)
            except AuthError as exc:
                if exc.status != 403:
                    raise
                log.warning("HubSpot line items are not read: the token lacks the scope for them (%s)", exc)
        elif entity in CRM_OBJECTS:
            yield from self._search(entity, since)
            yield from self._archived(entity, since)
        else:
            raise SourceError(f"HubSpot has no entity {entity!r}; known: {list(ENTITIES)}")

    # --- CRM objects -----------------------------------------------------------------------
    def _search(self, entity: str, since: datetime | None,
                properties: tuple[str, ...] | None = None) -> Iterator[list[RawRecord]]:
        object_type, modified, all_properties = CRM_OBJECTS[entity]
        properties = properties or tuple(dict.fromkeys([*all_properties, *self.extra_properties.get(entity, [])]))
        window_start = since
        while True:
            after: str | None = None
            fetched = 0
            last_seen: datetime | None = None
            while True:
                body: dict[str, Any] = {
                    "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                    "properties": list(properties),
                    "limit": self.page_size,
                }
                if window_start is not None:
                    body["filterGroups"] = [{"filters": [
                        {"propertyName": modified, "operator": "GTE", "value": str(epoch_ms(window_start))}
                    ]}]
                if after is not None:
                    body["after"] = after
                page = self.client.request("POST", f"/crm/v3/objects/{object_type}/search", json=body)
                results = page.get("results")
                if results is None:
                    raise SourceError(f"HubSpot {entity} search: response without 'results'")
                records = [self._crm_record(entity, r, modified) for r in results]
                if entity == "deals" and records:
                    self._attach_stage_history(records)
                if entity in ASSOCIATIONS and records:
                    self._attach_associations(object_type, records, ASSOCIATIONS[entity])
                if records:
                    fetched += len(records)
                    last_seen = records[-1].version_at
                    yield records
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if after is None:
                    return
                if fetched + self.page_size > self.search_cap:
                    break  # the next page would cross the 10,000-result cap: start a new window
            if last_seen is None or (window_start is not None and last_seen <= window_start):
                raise SourceError(
                    f"HubSpot {entity}: more than {self.search_cap} records share {modified} = {window_start}; "
                    "the search API cannot page past its cap"
                )
            window_start = last_seen

    @staticmethod
    def _crm_record(entity: str, result: Any, modified: str) -> RawRecord:
        try:
            props = result.get("properties") or {}
            stamp = props.get(modified) or result.get("updatedAt")
            if not result.get("id") or not stamp:
                raise ValueError(f"no id or {modified}")
            return RawRecord(str(result["id"]), parse_hs_datetime(stamp), result, bool(result.get("archived")))
        except (AttributeError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise SourceError(f"HubSpot {entity}: record without a valid id and {modified} ({exc}): "
                              f"{str(result)[:200]}") from exc

    def _attach_stage_history(self, records: list[RawRecord]) -> None:
        body = {"inputs": [{"id": r.record_id} for r in records], "properties": ["dealstage"],
                "propertiesWithHistory": list(DEAL_HISTORY)}
        answer = self.client.request("POST", "/crm/v3/objects/deals/batch/read", json=body)
        history = {str(r["id"]): r.get("propertiesWithHistory") or {} for r in answer.get("results", [])}
        for record in records:
            found = history.get(record.record_id, {})
            record.payload["propertiesWithHistory"] = {name: found.get(name) or [] for name in DEAL_HISTORY}

    def _attach_associations(self, object_type: str, records: list[RawRecord], to_types: tuple[str, ...]) -> None:
        """Each record's associated objects with their association types (v4 batch read; a record
        with more than a page of associations is asked again from its ``after``)."""
        for to_type in to_types:
            found: dict[str, list[dict[str, Any]]] = {r.record_id: [] for r in records}
            inputs: list[dict[str, str]] = [{"id": r.record_id} for r in records]
            while inputs:
                answer = self.client.request("POST", f"/crm/v4/associations/{object_type}/{to_type}/batch/read",
                                             json={"inputs": inputs})
                inputs = []
                for result in answer.get("results", []):
                    from_id = str((result.get("from") or {}).get("id"))
                    for target in result.get("to", []):
                        found.setdefault(from_id, []).append({
                            "id": str(target.get("toObjectId")),
                            "types": [t.get("typeId") for t in target.get("associationTypes", [])]})
                    after = ((result.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        inputs.append({"id": from_id, "after": after})
            for record in records:
                record.payload.setdefault("associations", {})[to_type] = found.get(record.record_id, [])

    @staticmethod
    def _version(what: str, item: dict[str, Any], since: datetime | None) -> datetime | None:
        """When a pipeline or owner (read whole) last changed; None when not since ``since``."""
        stamp = item.get("updatedAt") or item.get("createdAt")
        if not item.get("id") or not stamp:
            raise SourceError(f"HubSpot {what} without id or updatedAt: {str(item)[:200]}")
        changed = parse_hs_datetime(stamp)
        return changed if since is None or changed >= since else None

    def _pipelines(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        answer = self.client.request("GET", "/crm/v3/pipelines/deals")
        records = []
        for pipeline in answer.get("results", []):
            changed = self._version("deal pipeline", pipeline, since)
            if changed is not None:
                records.append(RawRecord(str(pipeline["id"]), changed, pipeline, bool(pipeline.get("archived"))))
        if records:
            yield sorted(records, key=lambda r: (r.version_at, r.record_id))

    def _owners(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        """Active and archived owners (an archived owner still names the deals they had)."""
        records = []
        for archived in ("false", "true"):
            after: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100, "archived": archived}
                if after:
                    params["after"] = after
                page = self.client.request("GET", "/crm/v3/owners", params=params)
                for owner in page.get("results", []):
                    changed = self._version("owner", owner, since)
                    if changed is not None:
                        records.append(RawRecord(str(owner["id"]), changed, {**owner, "archived": archived == "true"}))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        records.sort(key=lambda r: (r.version_at, r.record_id))
        for i in range(0, len(records), 500):
            yield records[i:i + 500]

    def _archived(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]:
        object_type, _, properties = CRM_OBJECTS[entity]
        after: str | None = None
        while True:
            params: dict[str, Any] = {"archived": "true", "limit": min(self.page_size, 100),
                                      "properties": ",".join(properties)}
            if after:
                params["after"] = after
            page = self.client.request("GET", f"/crm/v3/objects/{object_type}", params=params)
            records = []
            for result in page.get("results", []):
                archived_at = parse_hs_datetime(result.get("archivedAt") or result.get("updatedAt"))
                if since is None or archived_at >= since:
                    records.append(RawRecord(str(result["id"]), archived_at, result, True))
            if records:
                yield sorted(records, key=lambda r: r.version_at)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    # --- email events ------------------------------------------------------------------------
    def _email_events(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        start = since or self.backfill_start
        end = self.now or datetime.now(UTC)
        while start <= end:
            window_end = min(start + self.events_window, end)
            events: list[RawRecord] = []
            offset: str | None = None
            while True:
                params: dict[str, Any] = {"startTimestamp": epoch_ms(start), "endTimestamp": epoch_ms(window_end),
                                          "limit": 1000}
                if offset:
                    params["offset"] = offset
                page = self.client.request("GET", "/email/public/v1/events", params=params)
                for event in page.get("events", []):
                    if not event.get("id") or event.get("created") is None:
                        raise SourceError(f"HubSpot email event without id or created: {str(event)[:200]}")
                    events.append(RawRecord(str(event["id"]), parse_hs_datetime(event["created"]), event))
                if not page.get("hasMore"):
                    break
                offset = page.get("offset")
                if not offset:
                    raise SourceError("HubSpot email events: hasMore=true without an offset")
            events.sort(key=lambda r: (r.version_at, r.record_id))  # the API pages newest first
            for i in range(0, len(events), 1000):
                yield events[i:i + 1000]
            if window_end >= end:
                return
            start = window_end

    # --- consent, forms, campaigns -------------------------------------------------------------
    def _subscription_statuses(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        from urllib.parse import quote

        _, modified, _ = CRM_OBJECTS["contacts"]
        for page in self._search("contacts", since, properties=("email", modified, "hs_email_optout")):
            records = []
            for contact in page:
                email = (contact.payload.get("properties", {}).get("email") or "").strip().lower()
                if not email or contact.is_deleted:
                    continue
                status = self.client.request("GET", f"/communication-preferences/v3/status/email/{quote(email)}")
                records.append(RawRecord(contact.record_id, contact.version_at, {"contactId": contact.record_id,
                                                                                 **status}))
            if records:
                yield records

    def _form_submissions(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        forms = self.client.request("GET", "/marketing/v3/forms", params={"limit": 100}).get("results", [])
        for form in forms:
            collected: list[RawRecord] = []
            after: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 50}
                if after:
                    params["after"] = after
                page = self.client.request("GET", f"/form-integrations/v1/submissions/forms/{form['id']}",
                                           params=params)
                reached_older = False
                for submission in page.get("results", []):
                    submitted = parse_hs_datetime(submission["submittedAt"])
                    if since is not None and submitted < since:
                        reached_older = True
                        continue
                    record_id = submission.get("conversionId") or f"{form['id']}:{submission['submittedAt']}"
                    collected.append(RawRecord(str(record_id), submitted, {"formId": form["id"], **submission}))
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if reached_older or not after:
                    break
            collected.sort(key=lambda r: (r.version_at, r.record_id))
            for i in range(0, len(collected), 500):
                yield collected[i:i + 500]

    def _campaigns(self, since: datetime | None) -> Iterator[list[RawRecord]]:
        changed: list[dict[str, Any]] = []
        offset: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if offset:
                params["offset"] = offset
            page = self.client.request("GET", "/email/public/v1/campaigns/by-id", params=params)
            changed += [c for c in page.get("campaigns", [])
                        if since is None or parse_hs_datetime(c.get("lastUpdatedTime") or 0) >= since]
            offset = page.get("offset")
            if not page.get("hasMore") or not offset:
                break
        records = []
        for campaign in changed:
            detail = self.client.request("GET", f"/email/public/v1/campaigns/{campaign['id']}")
            stamp = detail.get("lastUpdatedTime") or campaign.get("lastUpdatedTime") or 0
            records.append(RawRecord(str(campaign["id"]), parse_hs_datetime(stamp), detail))
        records.sort(key=lambda r: (r.version_at, r.record_id))
        if records:
            yield records
