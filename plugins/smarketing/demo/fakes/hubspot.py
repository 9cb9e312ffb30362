"""A fake of the HubSpot APIs the connector uses, serving a ``Dataset``.

- ``POST /crm/v3/objects/{object}/search``: filters (EQ, NEQ, GT, GTE, LT, LTE), sorts, ``limit``
  up to 200, ``after`` paging, and the 10,000-result cap (a request paging past it gets HTTP 400);
- ``GET /crm/v3/objects/{object}``: the list endpoint, ``archived=true`` for deleted records;
- ``POST /crm/v3/objects/deals/batch/read`` with ``propertiesWithHistory``;
- ``POST /crm/v4/associations/deals/{contacts|companies}/batch/read`` and
  ``/line_items/deals/batch/read``: a record's associations (from its ``associations``:
  ``{"contacts": [id, ...], "companies": [id, ...]}``, the first company primary), at most
  ``association_page`` per record and page, then ``paging.next.after``; line items are CRM
  objects like deals (search, list, archived);
- ``GET /crm/v3/pipelines/deals``: the portal's deal pipelines with their stages (every portal has
  the default "Sales Pipeline"); ``GET /crm/v3/owners`` with ``archived`` and ``after`` paging;
- ``GET /email/public/v1/events``: time-bounded, newest first, ``offset`` paging;
- ``GET /email/public/v1/campaigns/by-id`` and ``/email/public/v1/campaigns/{id}``;
- ``GET /communication-preferences/v3/status/email/{email}``: subscription statuses with legal basis;
- ``GET /marketing/v3/forms`` and ``GET /form-integrations/v1/submissions/forms/{id}`` (newest first);
- lists: ``GET /crm/v3/lists/object-type-id/0-1/name/{name}``, ``POST /crm/v3/lists``,
  ``PUT /crm/v3/lists/{id}/memberships/add-and-remove`` (adding a member twice is ignored,
  unknown contacts come back as missing);
- Bearer token authentication with HubSpot's error body; optional rate limit (429, Retry-After).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from smarketing.demo.fakes.server import FakeApi, Reply
from smarketing.demo.world import DEFAULT_PIPELINE, Dataset

OBJECT_PATH = re.compile(r"^/crm/v3/objects/(\w+)(/search|/batch/read)?$")
DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"),
    "line_items": ("amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_product_id", "name", "price",
                   "quantity"),
}


ASSOCIATION_PATH = re.compile(r"^/crm/v4/associations/(deals|line_items)/(contacts|companies|deals)/batch/read$")
# HubSpot-defined association type ids: deal to contact 3, deal to company 341, primary company 5,
# line item to deal 20
DEAL_TO_CONTACT, DEAL_TO_COMPANY, DEAL_TO_PRIMARY_COMPANY, LINE_ITEM_TO_DEAL = 3, 341, 5, 20


def _error(status: int, message: str, category: str) -> Reply:
    return Reply(status, {"status": "error", "message": message, "correlationId": "00000000-fake",
                          "category": category})


@lru_cache(maxsize=200_000)
def _comparable_text(text: str) -> Any:
    if text.isdigit():
        return int(text)
    if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    try:
        return float(text)
    except ValueError:
        return text


def _comparable(value: Any) -> Any:
    """Dates compare as epoch milliseconds, numbers as numbers, the rest as strings."""
    return None if value is None else _comparable_text(str(value))


OPERATORS = {
    "EQ": lambda a, b: a == b, "NEQ": lambda a, b: a != b, "GT": lambda a, b: a is not None and a > b,
    "GTE": lambda a, b: a is not None and a >= b, "LT": lambda a, b: a is not None and a < b,
    "LTE": lambda a, b: a is not None and a <= b,
}


class FakeHubSpot(FakeApi):
    def __init__(self, dataset: Dataset | None = None, token: str = "demo-hubspot-token",
                 search_cap: int = 10_000, rate_limit: tuple[int, float] | None = None) -> None:
        super().__init__(rate_limit)
        self.token = token
        self.search_cap = search_cap
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, "companies": {}, "deals": {},
                                                              "line_items": {}}
        self.events: list[dict[str, Any]] = []
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}  # lowercase email -> status document
        self.forms: list[dict[str, Any]] = []
        self.submissions: dict[str, list[dict[str, Any]]] = {}  # form id -> submissions
        self.lists: dict[str, dict[str, Any]] = {}  # list id -> {"name", "members": set of contact ids}
        self.pushed: list[str] = []  # every contact id ever sent to a list (for safety checks)
        self.pipelines: dict[str, dict[str, Any]] = {"default": DEFAULT_PIPELINE}
        self.owners: dict[str, dict[str, Any]] = {}
        self.association_page = 100
        if dataset is not None:
            for object_type in self.objects:
                for record in dataset.records.get(("hubspot", object_type), []):
                    self.objects[object_type][record.record_id] = record.payload  # the latest version wins
            self.events = [r.payload for r in dataset.records.get(("hubspot", "email_events"), [])]
            for record in dataset.records.get(("hubspot", "campaigns"), []):
                self.campaigns[record.record_id] = record.payload
            for record in dataset.records.get(("hubspot", "deal_pipelines"), []):
                self.pipelines[record.record_id] = record.payload
            for record in dataset.records.get(("hubspot", "owners"), []):
                self.owners[record.record_id] = record.payload
            for record in dataset.records.get(("hubspot", "subscription_statuses"), []):
                doc = {k: v for k, v in record.payload.items() if k != "contactId"}
                self.statuses[doc["recipient"]] = doc
            from smarketing.demo.world import FORMS

            self.forms = [{"id": f["id"], "name": f["name"], "archived": False} for f in FORMS]
            for record in dataset.records.get(("hubspot", "form_submissions"), []):
                payload = {k: v for k, v in record.payload.items() if k != "formId"}
                self.submissions.setdefault(record.payload["formId"], []).append(payload)

    def put(self, object_type: str, payload: dict[str, Any]) -> None:
        """Create or replace one object (tests use this to change data between runs)."""
        self.objects[object_type][str(payload["id"])] = payload

    def route(self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str]) -> Reply:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                               "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                               "oauth-overview", "INVALID_AUTHENTICATION")
        if path == "/email/public/v1/events" and method == "GET":
            return self._events(query)
        if path.startswith("/crm/v3/lists"):
            return self._lists(method, path, body)
        if path == "/crm/v3/pipelines/deals" and method == "GET":
            return Reply(200, {"results": [p for p in self.pipelines.values() if not p.get("archived")]})
        if path == "/crm/v3/owners" and method == "GET":
            return self._owners(query)
        association = ASSOCIATION_PATH.match(path)
        if association and method == "POST":
            return self._associations(association.group(1), association.group(2), body or {})
        if path == "/email/public/v1/campaigns/by-id" and method == "GET":
            return self._campaign_ids(query)
        if path.startswith("/email/public/v1/campaigns/") and method == "GET":
            campaign = self.campaigns.get(path.rsplit("/", 1)[1])
            return Reply(200, campaign) if campaign else _error(404, "campaign not found", "OBJECT_NOT_FOUND")
        if path.startswith("/communication-preferences/v3/status/email/") and method == "GET":
            email = unquote(path.rsplit("/", 1)[1]).lower()
            return Reply(200, self.statuses.get(email, {"recipient": email, "subscriptionStatuses": []}))
        if path == "/marketing/v3/forms" and method == "GET":
            return Reply(200, {"results": self.forms})
        if path.startswith("/form-integrations/v1/submissions/forms/") and method == "GET":
            return self._submissions(path.rsplit("/", 1)[1], query)
        match = OBJECT_PATH.match(path)
        if not match or match.group(1) not in self.objects:
            return _error(404, f"no route for {method} {path}", "OBJECT_NOT_FOUND")
        object_type, action = match.groups()
        if action == "/search" and method == "POST":
            return self._search(object_type, body or {})
        if action == "/batch/read" and method == "POST":
            return self._batch_read(object_type, body or {})
        if action is None and method == "GET":
            return self._list(object_type, query)
        return _error(405, f"{method} not allowed on {path}", "VALIDATION_ERROR")

    def _shape(self, object_type: str, payload: dict[str, Any], properties: list[str] | None) -> dict[str, Any]:
        wanted = list(properties or DEFAULT_PROPERTIES[object_type])
        props = payload.get("properties", {})
        shaped = {k: props.get(k) for k in wanted}
        shaped["hs_object_id"] = str(payload["id"])
        out = {"id": str(payload["id"]), "properties": shaped, "createdAt": payload.get("createdAt"),
               "updatedAt": payload.get("updatedAt"), "archived": bool(payload.get("archived"))}
        if payload.get("archived"):
            out["archivedAt"] = payload.get("archivedAt")
        return out

    def _search(self, object_type: str, body: dict[str, Any]) -> Reply:
        limit = int(body.get("limit", 10))
        if limit > 200:
            return _error(400, "limit must be at most 200", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= self.search_cap:
            return _error(400, f"There was a problem with the request. The search API cannot return more than "
                               f"{self.search_cap} results (after={after}).", "VALIDATION_ERROR")
        rows = [p for p in self.objects[object_type].values() if not p.get("archived")]
        groups = body.get("filterGroups") or []
        if groups:
            rows = [p for p in rows if any(all(self._matches(p, f) for f in g.get("filters", [])) for g in groups)]
        for sort in reversed(body.get("sorts") or []):
            name = sort["propertyName"] if isinstance(sort, dict) else str(sort).lstrip("-")
            if isinstance(sort, dict):
                descending = sort.get("direction") == "DESCENDING"
            else:
                descending = str(sort).startswith("-")
            rows.sort(key=lambda p: (_comparable(p["properties"].get(name)) or 0, int(p["id"])), reverse=descending)
        total = len(rows)
        page = rows[after:after + limit]
        reply: dict[str, Any] = {"total": total, "results": [self._shape(object_type, p, body.get("properties"))
                                                              for p in page]}
        if after + limit < total:
            reply["paging"] = {"next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}}
        return Reply(200, reply)

    @staticmethod
    def _matches(payload: dict[str, Any], flt: dict[str, Any]) -> bool:
        operator = OPERATORS.get(flt.get("operator", "EQ"))
        if operator is None:
            raise ValueError(f"unsupported operator {flt.get('operator')}")
        return operator(_comparable(payload["properties"].get(flt["propertyName"])), _comparable(flt.get("value")))

    def _list(self, object_type: str, query: dict[str, str]) -> Reply:
        archived = query.get("archived", "false").lower() == "true"
        limit = min(int(query.get("limit", 10)), 100)
        rows = sorted((p for p in self.objects[object_type].values() if bool(p.get("archived")) == archived),
                      key=lambda p: int(p["id"]))
        after = int(query.get("after") or 0)
        page = [p for p in rows if int(p["id"]) > after][:limit]
        properties = [p for p in query.get("properties", "").split(",") if p] or None
        reply: dict[str, Any] = {"results": [self._shape(object_type, p, properties) for p in page]}
        if page and int(page[-1]["id"]) < int(rows[-1]["id"]):
            reply["paging"] = {"next": {"after": page[-1]["id"], "link": f"?after={page[-1]['id']}"}}
        return Reply(200, reply)

    def _batch_read(self, object_type: str, body: dict[str, Any]) -> Reply:
        results = []
        for item in body.get("inputs", []):
            payload = self.objects[object_type].get(str(item["id"]))
            if payload is None:
                continue
            shaped = self._shape(object_type, payload, body.get("properties"))
            history_of = body.get("propertiesWithHistory") or []
            shaped["propertiesWithHistory"] = {name: (payload.get("propertiesWithHistory") or {}).get(name, [])
                                               for name in history_of}
            results.append(shaped)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return Reply(200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})

    def _owners(self, query: dict[str, str]) -> Reply:
        archived = query.get("archived", "false").lower() == "true"
        limit = min(int(query.get("limit", 100)), 500)
        after = int(query.get("after") or 0)
        rows = sorted((o for o in self.owners.values() if bool(o.get("archived")) == archived),
                      key=lambda o: int(o["id"]))
        page = rows[after:after + limit]
        reply: dict[str, Any] = {"results": page}
        if after + limit < len(rows):
            reply["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return Reply(200, reply)

    def _associations(self, from_type: str, to_type: str, body: dict[str, Any]) -> Reply:
        results = []
        for item in body.get("inputs", []):
            record = self.objects[from_type].get(str(item.get("id")))
            if record is None:
                continue
            targets = [str(t) for t in (record.get("associations") or {}).get(to_type, [])]
            start = int(item.get("after") or 0)
            page = targets[start:start + self.association_page]
            to = []
            for n, target in enumerate(page, start):
                if to_type == "contacts":
                    types = [{"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_CONTACT, "label": None}]
                elif to_type == "deals":
                    types = [{"category": "HUBSPOT_DEFINED", "typeId": LINE_ITEM_TO_DEAL, "label": None}]
                else:
                    types = [{"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_COMPANY, "label": None}]
                    if n == 0:
                        types.append({"category": "HUBSPOT_DEFINED", "typeId": DEAL_TO_PRIMARY_COMPANY,
                                      "label": "Primary"})
                to.append({"toObjectId": int(target), "associationTypes": types})
            result: dict[str, Any] = {"from": {"id": str(item["id"])}, "to": to}
            if start + self.association_page < len(targets):
                result["paging"] = {"next": {"after": str(start + self.association_page)}}
            results.append(result)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return Reply(200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now})

    def _lists(self, method: str, path: str, body: Any) -> Reply:
        parts = path.split("/")[4:]  # after /crm/v3/lists
        if method == "GET" and parts[:3] == ["object-type-id", "0-1", "name"] and len(parts) == 4:
            name = unquote(parts[3])
            for list_id, item in self.lists.items():
                if item["name"] == name:
                    return Reply(200, {"list": {"listId": list_id, "name": name, "processingType": "MANUAL",
                                                "objectTypeId": "0-1", "size": len(item["members"])}})
            return _error(404, f"List does not exist with name {name}.", "OBJECT_NOT_FOUND")
        if method == "POST" and not parts:
            list_id = str(len(self.lists) + 1)
            self.lists[list_id] = {"name": body["name"], "members": set()}
            return Reply(200, {"list": {"listId": list_id, "name": body["name"], "processingType":
                                        body.get("processingType", "MANUAL"), "objectTypeId": "0-1", "size": 0}})
        if method == "PUT" and len(parts) == 3 and parts[1:] == ["memberships", "add-and-remove"]:
            found = self.lists.get(parts[0])
            if found is None:
                return _error(404, f"list {parts[0]} not found", "OBJECT_NOT_FOUND")
            known = set(self.objects["contacts"])
            to_add = [str(r) for r in body.get("recordIdsToAdd", [])]
            to_remove = [str(r) for r in body.get("recordIdsToRemove", [])]
            self.pushed += to_add
            added = [r for r in to_add if r in known and r not in found["members"]]
            removed = [r for r in to_remove if r in found["members"]]
            found["members"] |= set(added)
            found["members"] -= set(removed)
            return Reply(200, {"recordIdsMissing": [r for r in to_add + to_remove if r not in known],
                               "recordsIdsAdded": added, "recordIdsRemoved": removed})
        return _error(404, f"no route for {method} {path}", "OBJECT_NOT_FOUND")

    def _campaign_ids(self, query: dict[str, str]) -> Reply:
        limit = min(int(query.get("limit", 100)), 1000)
        offset = int(query.get("offset") or 0)
        rows = sorted(self.campaigns.values(), key=lambda c: int(c["id"]))
        page = [{"id": c["id"], "appId": c.get("appId"), "appName": c.get("appName"),
                 "lastUpdatedTime": c.get("lastUpdatedTime")} for c in rows[offset:offset + limit]]
        more = offset + limit < len(rows)
        return Reply(200, {"campaigns": page, "hasMore": more, "offset": str(offset + limit) if more else None})

    def _submissions(self, form_id: str, query: dict[str, str]) -> Reply:
        if form_id not in self.submissions and form_id not in {f["id"] for f in self.forms}:
            return _error(404, f"form {form_id} not found", "OBJECT_NOT_FOUND")
        limit = min(int(query.get("limit", 20)), 50)
        after = int(base64.urlsafe_b64decode(query["after"]).decode()) if query.get("after") else 0
        rows = sorted(self.submissions.get(form_id, []), key=lambda s: -int(s["submittedAt"]))
        reply: dict[str, Any] = {"results": rows[after:after + limit]}
        if after + limit < len(rows):
            reply["paging"] = {"next": {"after": base64.urlsafe_b64encode(str(after + limit).encode()).decode()}}
        return Reply(200, reply)

    def _events(self, query: dict[str, str]) -> Reply:
        start = int(query.get("startTimestamp") or 0)
        end = int(query.get("endTimestamp") or 2**62)
        limit = min(int(query.get("limit", 100)), 1000)
        offset = int(base64.urlsafe_b64decode(query["offset"]).decode()) if query.get("offset") else 0
        rows = sorted((e for e in self.events if start <= int(e["created"]) <= end),
                      key=lambda e: (-int(e["created"]), e["id"]))
        page = rows[offset:offset + limit]
        more = offset + limit < len(rows)
        reply: dict[str, Any] = {"events": page, "hasMore": more}
        if more:
            reply["offset"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        return Reply(200, reply)
