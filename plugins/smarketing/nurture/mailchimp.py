"""Push a program's list to a tag of a Mailchimp audience, sending only the difference.

The audience is the one a ``mailchimp`` system of config/sources.yaml extracts (its
unsubscribes, cleaned addresses and abuse reports come back and suppress); the tag is
``<tag_prefix><program>``, a static segment found by name or created. Members are keyed by the
subscriber hash (MD5 of the lower-cased address), so a person is one member however often pushed.

Per call of up to 500 addresses: who joined is added to the audience with the batch-subscribe
endpoint (``POST /lists/{id}``, ``update_existing: false``: an existing member keeps its status,
so nobody Mailchimp has as unsubscribed or cleaned is ever subscribed again), then tagged
(``POST /lists/{id}/segments/{tag}``, ``members_to_add``); who left loses the tag
(``members_to_remove``) and stays in the audience. Both calls are idempotent and
``nurture.platform_sync`` (the subscriber hash as ``record_id``, the address sent as ``member_id``,
which a removal names) is updated after each accepted one, so a push that fails midway resumes
where it stopped without duplicates. Calls go one at a time (Mailchimp allows 10 connections); a
429 or 5xx is retried with backoff by the HTTP client. An address Mailchimp refuses (it looks
fake, is in a compliance state) is counted in ``refused`` and logged by its error code only.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from smarketing.nurture.destinations import (
    Member,
    PushResult,
    chunks,
    current_members,
    forget,
    guard,
    member_count,
    record,
    stale,
    synced,
)
from smarketing.sources.base import SourceError
from smarketing.sources.http_client import ApiError, HttpClient

log = logging.getLogger(__name__)
PLATFORM = "mailchimp"
BATCH = 500  # addresses per call, the most both endpoints take


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def deliver(eng: Engine, conf: dict[str, Any], program: str, retire: bool = False, dry_run: bool = False) -> PushResult:
    """``push`` to the audience of config/sources.yaml's system ``conf['system']``."""
    from smarketing.config import get_connection
    from smarketing.sources import mailchimp, settings

    spec = settings()["systems"].get(conf["system"])
    if spec is None or spec["kind"] != "mailchimp":
        raise SourceError(f"destinations.mailchimp.system {conf['system']!r} is not a system of kind mailchimp in"
                          " config/sources.yaml")
    client = mailchimp.client(get_connection(spec["conn_id"] or mailchimp.CONN_ID))
    return push(eng, client, spec["audience_id"], program, f"{conf['tag_prefix']}{program}", retire, dry_run)


def find_tag(client: HttpClient, audience: str, name: str, create: bool = True) -> str | None:
    """The id of the audience's static segment (tag) ``name``, created when absent."""
    offset = 0
    while True:
        body = client.request("GET", f"/lists/{audience}/segments", params={
            "type": "static", "count": 1000, "offset": offset, "fields": "segments.id,segments.name,total_items"})
        segments = body.get("segments") or []
        for segment in segments:
            if segment.get("name") == name:
                return str(segment["id"])
        offset += len(segments)
        if not segments or offset >= int(body.get("total_items") or 0):
            break
    if not create:
        return None
    created = client.request("POST", f"/lists/{audience}/segments", json={"name": name, "static_segment": []})
    return str(created["id"])


def push(eng: Engine, client: HttpClient, audience: str, program: str, tag: str, retire: bool = False,
         dry_run: bool = False) -> PushResult:
    """Bring the tag up to the program's current members; ``retire`` removes it from everyone
    (the program no longer names Mailchimp); ``dry_run`` only counts (a missing tag is not made)."""
    client.request("GET", f"/lists/{audience}", params={"fields": "id"})  # a wrong audience id fails here, clearly
    with eng.connect() as conn:
        rows = [] if retire else current_members(conn, program)
        members = [Member(person, subscriber_hash(email), email, first, last)
                   for person, email, first, last in rows if email]
        total = 0 if retire else member_count(conn, program)
        guard(conn, program, members)
    segment = find_tag(client, audience, tag, create=False)
    made = segment is None
    if made and not dry_run and not retire:  # (a retired program's list is not made again)
        segment = find_tag(client, audience, tag)
        forget(eng, program, PLATFORM, f"{audience}/{segment}")
    list_id = f"{audience}/{segment or '(new)'}"
    earlier = stale(eng, program, PLATFORM, list_id)
    if not dry_run:  # the tags of an earlier name or audience are taken off first (one deleted: nothing to do)
        for old, listed in earlier.items():
            old_audience, _, old_segment = old.partition("/")
            for part in chunks(listed, BATCH):
                try:
                    client.request("POST", f"/lists/{old_audience}/segments/{old_segment}", json={
                        "members_to_add": [], "members_to_remove": [m for _, _, m in part if m]})
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                record(eng, program, PLATFORM, old, [(p, r, m, False) for p, r, m in part])
    gone = sum(len({r for _, r, _ in listed}) for listed in earlier.values())
    with eng.connect() as conn:
        done = {} if made else synced(conn, program, PLATFORM, list_id)
    wanted: dict[str, list[Member]] = {}
    for member in members:
        wanted.setdefault(member.record_id, []).append(member)
    have: dict[str, tuple[str, list[int]]] = {}  # hash -> (address sent, persons)
    for person, sync in done.items():
        have.setdefault(sync.record_id, (sync.member_id or "", []))[1].append(person)
    to_add = sorted(h for h in wanted if h not in have)
    to_remove = sorted(h for h in have if h not in wanted)
    if dry_run:
        return PushResult(program, PLATFORM, f"{audience} tag {tag!r}", len(to_add), len(to_remove) + gone,
                          total - len(members), dry_run=True, retired=retire)
    # leaves first: a person whose address changed leaves under the old one and joins under the new
    for chunk in chunks(to_remove, BATCH):
        client.request("POST", f"/lists/{audience}/segments/{segment}",
                       json={"members_to_add": [], "members_to_remove": [have[h][0] for h in chunk]})
        record(eng, program, PLATFORM, list_id, [(p, h, have[h][0], False) for h in chunk for p in have[h][1]])
    refused: Counter[str] = Counter()
    for chunk in chunks(to_add, BATCH):
        firsts = [wanted[h][0] for h in chunk]
        body = client.request("POST", f"/lists/{audience}", json={"update_existing": False, "members": [
            {"email_address": m.email, "email_type": "html", "status": "subscribed",
             "merge_fields": {k: v for k, v in (("FNAME", m.first_name), ("LNAME", m.last_name)) if v}}
            for m in firsts]})
        refusals = {subscriber_hash(str(e.get("email_address", ""))): str(e.get("error_code") or "ERROR")
                    for e in body.get("errors") or [] if e.get("error_code") != "ERROR_CONTACT_EXISTS"}
        taken = [m for m in firsts if m.record_id not in refusals]
        refused.update(refusals.values())
        if taken:
            answer = client.request("POST", f"/lists/{audience}/segments/{segment}",
                                    json={"members_to_add": [m.email for m in taken], "members_to_remove": []})
            for error in answer.get("errors") or []:
                for address in error.get("email_addresses") or []:
                    if subscriber_hash(address) in {m.record_id for m in taken}:
                        refused["NOT_TAGGED"] += 1
                        taken = [m for m in taken if m.record_id != subscriber_hash(address)]
        record(eng, program, PLATFORM, list_id, [(p.person_id, m.record_id, m.email, True)
                                                 for m in taken for p in wanted[m.record_id]])
    if refused:
        log.warning("program %s: Mailchimp refused %d addresses (%s); they are not on the tag", program,
                    sum(refused.values()), ", ".join(f"{code} {n}" for code, n in sorted(refused.items())))
    return PushResult(program, PLATFORM, f"{audience} tag {tag!r}", len(to_add) - sum(refused.values()),
                      len(to_remove) + gone, total - len(members), refused=sum(refused.values()), retired=retire)
