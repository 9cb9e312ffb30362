"""Where a program's list goes, as config/nurture.yaml names it per program (``destinations``).

- ``csv`` and ``view``: written with the list itself (``smarketing.nurture.lists``);
- ``files``: the list as a CSV in a folder of any storage Airflow's ObjectStoragePath reaches
  (``smarketing.nurture.files``);
- platforms: a HubSpot static list (``hubspot_list``), a tag of a Mailchimp audience
  (``mailchimp``), a Salesforce campaign (``salesforce_campaign``). A push sends only who joined
  and who left since the last accepted call (``nurture.platform_sync``), after a last check that
  nobody suppressed is about to be sent; a program that no longer names a platform has its list
  emptied there.

Every platform is also a source: its unsubscribes come back through the extract of the same
system, so suppression decides from them in the next run (the same run, for changes made before
it started). ``smarketing.nurture.push.push_all`` pushes every program; with ``dry_run``
(``smarketing lists push PROGRAM --dry-run``) it says what a push would add and remove on each
platform and changes nothing. Here: what every platform's push shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

PLATFORMS = ("hubspot_list", "mailchimp", "salesforce_campaign")


@dataclass
class PushResult:
    program: str
    platform: str
    target: str              # the platform's list: HubSpot list id, audience/tag, campaign id
    added: int
    removed: int
    without_record: int      # current members the platform has no record of (no HubSpot contact, ...)
    refused: int = 0         # members the platform would not take (a reason each in the log)
    dry_run: bool = False
    retired: bool = False

    def stats(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k not in ("program", "platform") and (v or k in (
            "added", "removed", "target"))}


class UnsafePush(RuntimeError):
    """A person the warehouse suppresses was about to be sent; nothing was sent."""


@dataclass(frozen=True)
class Member:
    person_id: int
    record_id: str           # the platform's key of the person
    email: str
    first_name: str | None = None
    last_name: str | None = None


def current_members(conn: Connection, program: str) -> list[tuple[int, str, str | None, str | None]]:
    """(person_id, email, first_name, last_name) of the program's current members nobody suppresses."""
    return [(row[0], row[1], row[2], row[3]) for row in conn.execute(text(
        "select m.person_id, m.email, p.first_name, p.last_name from nurture.list_membership m"
        " left join core.person p on p.person_id = m.person_id"
        " where m.program = :program and m.removed_on is null"
        "  and not nurture.is_suppressed(m.person_id, core.mailbox_key(m.email)) order by m.person_id"),
        {"program": program}).all()]


def member_count(conn: Connection, program: str) -> int:
    return conn.execute(text("select count(*) from nurture.list_membership where program = :program"
                             " and removed_on is null"), {"program": program}).scalar_one()


def guard(conn: Connection, program: str, members: Sequence[Member]) -> None:
    """Raise ``UnsafePush`` when any person, or the mailbox of any address, about to be sent is
    suppressed now: the last check before anything leaves."""
    unsafe = conn.execute(text(
        "select count(*) from unnest(cast(:people as bigint[]), cast(:emails as text[])) as d (person_id, email)"
        " where nurture.is_suppressed(d.person_id, core.mailbox_key(d.email))"),
        {"people": [m.person_id for m in members], "emails": [m.email for m in members]}).scalar_one()
    if unsafe:
        raise UnsafePush(f"program {program}: {unsafe} suppressed people are on the list; nothing was pushed")


def guard_records(conn: Connection, program: str, source: str, sent: dict[int, str]) -> None:
    """``guard`` for platforms that mail a CRM record's own address (HubSpot contacts, Salesforce
    contacts and leads): person id -> record id of ``source`` about to be sent."""
    unsafe = conn.execute(text(
        "select count(*) from unnest(cast(:people as bigint[]), cast(:records as text[])) as d (person_id, record_id)"
        " where exists (select 1 from nurture.suppressed s where s.person_id = d.person_id)"
        "  or exists (select 1 from core.identity_record r join nurture.suppressed_mailbox s"
        "   on s.mailbox_key = r.email_key where r.source = :source and r.record_id = d.record_id)"),
        {"people": list(sent), "records": list(sent.values()), "source": source}).scalar_one()
    if unsafe:
        raise UnsafePush(f"program {program}: {unsafe} suppressed people are on the list; nothing was pushed")


@dataclass(frozen=True)
class Synced:
    record_id: str
    member_id: str | None


def synced(conn: Connection, program: str, platform: str, list_id: str) -> dict[int, Synced]:
    """Who the platform's list holds, as far as accepted calls tell, per person."""
    return {person: Synced(record, member) for person, record, member in conn.execute(text(
        "select person_id, record_id, member_id from nurture.platform_sync where program = :program"
        " and platform = :platform and list_id = :list_id and in_list"),
        {"program": program, "platform": platform, "list_id": list_id}).all()}


def record(eng: Engine, program: str, platform: str, list_id: str,
           rows: Sequence[tuple[int, str, str | None, bool]]) -> None:
    """Remember what one accepted call changed: (person_id, record_id, member_id, in_list) each."""
    if not rows:
        return
    with eng.begin() as conn:
        conn.execute(text(
            "insert into nurture.platform_sync (program, platform, list_id, person_id, record_id, member_id, in_list)"
            " values (:program, :platform, :list_id, :person, :record, :member, :in_list)"
            " on conflict (program, platform, person_id) do update set list_id = excluded.list_id,"
            " record_id = excluded.record_id, member_id = excluded.member_id, in_list = excluded.in_list,"
            " synced_at = now()"),
            [{"program": program, "platform": platform, "list_id": list_id, "person": p, "record": r, "member": m,
              "in_list": in_list} for p, r, m, in_list in rows])


def forget(eng: Engine, program: str, platform: str, list_id: str) -> None:
    """The platform's list was missing and is made anew: whatever it held before is not on the new
    one (its id may even be the old one's), so everyone current is sent again."""
    with eng.begin() as conn:
        conn.execute(text("update nurture.platform_sync set in_list = false, synced_at = now()"
                          " where program = :program and platform = :platform and list_id = :list_id and in_list"),
                     {"program": program, "platform": platform, "list_id": list_id})


def stale(eng: Engine, program: str, platform: str, list_id: str) -> dict[str, list[tuple[int, str, str | None]]]:
    """Who accepted calls put on another list of the program on this platform (the list, tag or
    campaign of an earlier name, prefix or audience), per that list: (person, record, member). Each
    push empties those lists first: nobody stays on a list no push looks after."""
    with eng.connect() as conn:
        rows = conn.execute(text(
            "select list_id, person_id, record_id, member_id from nurture.platform_sync where program = :program"
            " and platform = :platform and list_id <> :list_id and in_list order by list_id, person_id"),
            {"program": program, "platform": platform, "list_id": list_id}).all()
    found: dict[str, list[tuple[int, str, str | None]]] = {}
    for old, person, record_id, member in rows:
        found.setdefault(old, []).append((person, record_id, member))
    return found


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]
