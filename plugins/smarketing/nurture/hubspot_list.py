"""Push a program's list to a HubSpot static list, sending only the difference.

The list (``processingType`` MANUAL, contacts) is found by name or created. Members are the
program's current members that have a HubSpot contact; ``nurture.platform_sync`` remembers who is
on which platform list, so a run sends only those to add and those to remove (everyone again if
the list was deleted and had to be created anew), through
``PUT /crm/v3/lists/{listId}/memberships/add-and-remove``. HubSpot ignores adding a member twice,
so a retried call after a lost answer changes nothing; the sync table is updated after each
accepted call, so a run that fails midway resumes where it stopped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text

from smarketing.nurture.destinations import (
    PushResult,
    UnsafePush,
    chunks,
    forget,
    guard_records,
    member_count,
    record,
    stale,
    synced,
)
from smarketing.sources.http_client import ApiError, HttpClient

PLATFORM = "hubspot_list"
CHUNK = 100
__all__ = ["PushResult", "UnsafePush", "deliver", "ensure_list", "push"]


def ensure_list(client: HttpClient, name: str, create: bool = True) -> str | None:
    """The id of the contact list ``name``, created when absent (None when absent and not ``create``)."""
    try:
        found = client.request("GET", f"/crm/v3/lists/object-type-id/0-1/name/{quote(name, safe='')}")
        return str(found["list"]["listId"])
    except ApiError as exc:
        if exc.status != 404:
            raise
    if not create:
        return None
    created = client.request("POST", "/crm/v3/lists",
                             json={"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"})
    return str(created["list"]["listId"])


def deliver(eng: Engine, conf: dict[str, Any], program: str, retire: bool = False, dry_run: bool = False) -> PushResult:
    """``push`` with the client and list name config/nurture.yaml's ``destinations.hubspot_list`` gives."""
    return push(eng, client(conf["conn_id"]), program, f"{conf['list_name_prefix']}{program}", retire, dry_run)


def push(eng: Engine, client: HttpClient, program: str, list_name: str, retire: bool = False,
         dry_run: bool = False) -> PushResult:
    """Bring the platform list up to the program's current members; ``retire`` empties it (the
    program no longer has this destination); ``dry_run`` only counts (a missing list is not made)."""
    with eng.connect() as conn:
        desired: dict[int, str] = {} if retire else dict(conn.execute(text(
            "select m.person_id, min(i.source_record_id) from nurture.list_membership m"
            " join core.person_identity i on i.person_id = m.person_id and i.source = 'hubspot'"
            "  and i.entity = 'contacts' and i.is_active"
            " where m.program = :program and m.removed_on is null"
            "  and not nurture.is_suppressed(m.person_id, core.mailbox_key(m.email))"
            " group by m.person_id"), {"program": program}).all())
        members = 0 if retire else member_count(conn, program)
        guard_records(conn, program, "hubspot", desired)  # the last gate: the person or the contact's mailbox
    list_id = ensure_list(client, list_name, create=False)
    made = list_id is None
    if made and not dry_run and not retire:  # (a retired program's list is not made again)
        list_id = ensure_list(client, list_name)
        forget(eng, program, PLATFORM, str(list_id))
    list_id = list_id or "(new)"
    earlier = stale(eng, program, PLATFORM, list_id)
    if not dry_run:  # the lists of an earlier name are emptied first (one deleted meanwhile: nothing to do)
        for old, rows in earlier.items():
            for chunk in chunks(rows, CHUNK):
                try:
                    client.request("PUT", f"/crm/v3/lists/{old}/memberships/add-and-remove", json={
                        "recordIdsToAdd": [], "recordIdsToRemove": [r for _, r, _ in chunk]})
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                record(eng, program, PLATFORM, old, [(p, r, m, False) for p, r, m in chunk])
    with eng.connect() as conn:
        on_list = {} if made else {p: s.record_id for p, s in synced(conn, program, PLATFORM, list_id).items()}
    to_add = {p: r for p, r in desired.items() if on_list.get(p) != r}
    to_remove = {p: r for p, r in on_list.items() if desired.get(p) != r}
    changes = [(p, r, True) for p, r in sorted(to_add.items())] + [(p, r, False) for p, r in sorted(to_remove.items())]
    gone = sum(len(rows) for rows in earlier.values())
    if dry_run:
        return PushResult(program, PLATFORM, list_id, len(to_add), len(to_remove) + gone, members - len(desired),
                          dry_run=True, retired=retire)
    for part in chunks(changes, CHUNK):
        client.request("PUT", f"/crm/v3/lists/{list_id}/memberships/add-and-remove", json={
            "recordIdsToAdd": [r for _, r, add in part if add],
            "recordIdsToRemove": [r for _, r, add in part if not add],
        })
        record(eng, program, PLATFORM, list_id, [(p, r, None, add) for p, r, add in part])
    return PushResult(program, PLATFORM, list_id, len(to_add), len(to_remove) + gone, members - len(desired),
                      retired=retire)


def client(conn_id: str) -> HttpClient:
    """The HubSpot HTTP client of connection ``conn_id`` (the one the source extracts through)."""
    from smarketing.config import get_connection
    from smarketing.sources import hubspot

    return hubspot.client(get_connection(conn_id))
