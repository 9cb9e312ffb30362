"""Build each program's list for an as-of date, suppression applied, versioned, and delivered.

Suppression is decided per mailbox in ``sql/nurture/suppressed_mailbox.sql``, extended to every
person holding a suppressed mailbox in ``sql/nurture/suppressed.sql``, and enforced in
``sql/nurture/list_members.sql``, the one statement every program's list goes through.

Per run and program: the snapshot ``nurture.list_members`` for the as-of date; the versioned
``nurture.list_membership`` (added on, removed on) with the diff against the previous run in
``nurture.list_runs``; a CSV ``<program>_<as_of>.csv`` of the latest list, written atomically
(older ones are removed: they may hold people suppressed since); a view ``nurture.list_<program>``
of the current members for the ``smarketing_marketing`` role. Rerunning an as-of date undoes that
date's changes first, so it gives the same list, diff and file.

A run is all or nothing (``build_lists``): every program is checked first (its SQL parses and
its parameters bind), then suppression, every list and every view are rebuilt in one
transaction; files are written after the commit, so a full or read-only export folder leaves
the warehouse consistent and fails the run naming the program and the path.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from smarketing.config import PATHS, ConfigError
from smarketing.nurture.cells import spreadsheet_safe
from smarketing.nurture.programs import BASE_FIELDS, Program, nurture_settings
from smarketing.warehouse import dbapi as warehouse_dbapi
from smarketing.warehouse import run_sql_file, sql_path, use_work_mem

log = logging.getLogger(__name__)


@dataclass
class ListResult:
    program: str
    as_of: date
    members: int
    eligible: int
    added: int
    removed: int
    unchanged: int
    export_path: Path | None


class NurtureError(RuntimeError):
    """A program cannot be built; the message names which and why. Nothing was changed."""


class DeliveryError(RuntimeError):
    """A list is current in the warehouse but a file or push failed (perhaps for a while: a full
    disk, an API outage); the message names program and path or list."""


def suppression_params(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    conf = (settings if settings is not None else nurture_settings())["suppression"]
    return {
        "require_legal_basis": conf["require_legal_basis"],
        "hard_bounce_categories": list(conf["hard_bounce_categories"]),
        "excluded_domains": list(conf["excluded_domains"]),
    }


# The statements suppression is decided by; a change to any of them (an upgrade) refreshes it whole.
SUPPRESSION_FILES = ("nurture/transient_evidence.sql", "nurture/suppressed_mailbox.sql", "nurture/suppressed.sql")
# A scope of more than this share of the known mailboxes (and more than WHOLE_MIN) is refreshed
# whole: reading everything once is then cheaper than looking each mailbox up.
WHOLE_SHARE = 0.25
WHOLE_MIN = 1000

SCOPE = """
insert into suppression_scope (mailbox_key)
select mailbox_key from meta.suppression_changes where mailbox_key is not null
union
select mailbox_key from core.person_mailbox  -- "= any(array(...))": pushed into the view's union and its indexes
where person_id = any(array(select person_id from meta.suppression_changes where person_id is not null))
union
select mailbox_key from transient_evidence where mailbox_key is not null
union
select mailbox_key from meta.suppression_transient
"""
SCOPE_PERSONS = """
insert into suppression_persons (person_id)
select person_id from meta.suppression_changes where person_id is not null
union
select person_id from core.person_mailbox where mailbox_key = any(array(select mailbox_key from suppression_scope))
"""


def _suppression_digest(conn: Connection, params: dict[str, Any]) -> str:
    """What the suppression tables were built with: the settings, the statements, the schema."""
    schema = conn.execute(text("select max(version) from meta.schema_migrations")).scalar()
    digest = hashlib.sha256(json.dumps({"params": params, "schema": schema}, sort_keys=True).encode())
    for name in SUPPRESSION_FILES:
        digest.update(sql_path(name).read_bytes())
    return digest.hexdigest()


def _refresh_suppression(conn: Connection, settings: dict[str, Any] | None = None
                         ) -> tuple[dict[str, int], dict[str, int] | None]:
    """Decide again the mailboxes whose evidence changed since the last refresh (the change notes the
    tables it reads take, V055; what quarantined and held records say, now and last time) and the
    persons holding them; everything when the settings, the statements or the schema changed, after
    a first load or a full refresh of core, or when that would be a quarter of the mailboxes.
    Returns the people suppressed per reason, and how many mailboxes and persons were decided again
    (None when everything was)."""
    params = suppression_params(settings)
    use_work_mem(conn)  # the scope's bitmaps exact: a lossy page is checked against the whole scope per row
    digest = _suppression_digest(conn, params)
    conn.execute(text("create temporary table suppression_scope (mailbox_key text primary key) on commit drop"))
    conn.execute(text("create temporary table suppression_persons (person_id bigint primary key) on commit drop"))
    run_sql_file(conn, "nurture/transient_evidence.sql")
    whole = conn.execute(text("select digest from meta.suppression_state")).scalar() != digest
    if not whole:
        scope = conn.execute(text(SCOPE)).rowcount
        known = conn.execute(text("select reltuples from pg_class where oid = 'core.identity_record'::regclass")
                             ).scalar() or 0
        whole = scope > max(WHOLE_MIN, WHOLE_SHARE * known)
    if whole:
        conn.execute(text("delete from nurture.suppressed_mailbox"))
        run_sql_file(conn, "nurture/suppressed_mailbox.sql", {**params, "whole": True})
        conn.execute(text("delete from nurture.suppressed"))
        run_sql_file(conn, "nurture/suppressed.sql", {"whole": True})
        scoped = None
        log.info("suppression decided for every mailbox and person")
    else:
        conn.execute(text("delete from nurture.suppressed_mailbox"
                          " where mailbox_key in (select mailbox_key from suppression_scope)"))
        run_sql_file(conn, "nurture/suppressed_mailbox.sql", {**params, "whole": False})
        persons = conn.execute(text(SCOPE_PERSONS)).rowcount
        conn.execute(text("delete from nurture.suppressed"
                          " where person_id in (select person_id from suppression_persons)"))
        run_sql_file(conn, "nurture/suppressed.sql", {"whole": False})
        scoped = {"mailboxes": scope, "persons": persons}
        log.info("suppression decided again for the %d mailboxes and %d persons whose evidence changed",
                 scope, persons)
    conn.execute(text("delete from meta.suppression_transient"))
    conn.execute(text("insert into meta.suppression_transient select distinct mailbox_key from transient_evidence"
                      " where mailbox_key is not null"))
    conn.execute(text("delete from meta.suppression_changes"))
    conn.execute(text("insert into meta.suppression_state (digest) values (:digest) on conflict (only_row)"
                      " do update set digest = excluded.digest, refreshed_at = now()"), {"digest": digest})
    rows = conn.execute(text("select reason, count(*) from nurture.suppressed group by reason order by reason"))
    return {reason: count for reason, count in rows}, scoped


def refresh_suppression(eng: Engine, settings: dict[str, Any] | None = None) -> dict[str, int]:
    """Refresh ``nurture.suppressed_mailbox`` and ``nurture.suppressed`` (what changed, or everything:
    ``_refresh_suppression``); return people suppressed per reason."""
    with eng.begin() as conn:
        return _refresh_suppression(conn, settings)[0]


def export_path(program: str, as_of: date, export_dir: Path | None = None) -> Path:
    return (export_dir or PATHS.exports) / "nurture" / f"{program}_{as_of.isoformat()}.csv"


def _statements(program: Program) -> tuple[str, str]:
    """The program's eligibility SQL and the list statement around it."""
    try:
        eligibility = sql_path(program.eligibility).read_text().strip().rstrip(";")
    except OSError as exc:
        raise NurtureError(f"program {program.name}: cannot read eligibility file sql/{program.eligibility}: "
                           f"{exc.strerror}") from exc
    return eligibility, sql_path("nurture/list_members.sql").read_text().replace("{eligibility}", eligibility)


def check_programs(eng: Engine, programs: list[Program], as_of: date) -> None:
    """Plan every program's list statement (parse, bind every parameter) without changing anything;
    raise ``NurtureError`` naming each program that would fail."""
    problems = []
    with eng.connect() as conn:
        for program in programs:
            try:
                eligibility, statement = _statements(program)
                with conn.begin_nested():
                    conn.execute(text(f"explain {statement}"), _params(program, as_of))
                    columns = conn.execute(text(f"select * from ({eligibility}) as e limit 0"),  # noqa: S608
                                           _params(program, as_of)).keys()
                missing = [f for f in program.fields if f not in BASE_FIELDS and f not in columns]
                if missing:
                    problems.append(f"program {program.name}: fields {missing} are neither {list(BASE_FIELDS)} nor"
                                    f" columns of sql/{program.eligibility} ({', '.join(c for c in columns)})")
            except NurtureError as exc:
                problems.append(str(exc))
            except SQLAlchemyError as exc:
                detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                problems.append(f"program {program.name} (sql/{program.eligibility}): {detail}")
        conn.rollback()
    if problems:
        raise NurtureError("nothing was changed: " + "; ".join(problems))


def _params(program: Program, as_of: date) -> dict[str, Any]:
    return {**program.params, "program": program.name, "as_of": as_of}


@dataclass
class NurtureRun:
    suppressed: dict[str, int]       # people suppressed per reason
    lists: list[ListResult]
    failures: list[str]              # files that could not be written, naming program and path
    suppression_scope: dict[str, int] | None = None  # mailboxes and persons decided again; None: all


def build_lists(eng: Engine, programs: list[Program], as_of: date, run_id: str,
                settings: dict[str, Any] | None = None, export_dir: Path | None = None) -> NurtureRun:
    """Check every program (``NurtureError`` before any change), then rebuild suppression, every
    list and view in one transaction, then write the files; a file that cannot be written is
    reported in ``failures`` and the others are still written."""
    check_programs(eng, programs, as_of)
    with eng.begin() as conn:
        suppressed, scope = _refresh_suppression(conn, settings)
        results = []
        for program in programs:
            started = time.perf_counter()
            results.append(_build(conn, program, as_of, run_id, export_dir))
            done = results[-1]
            log.info("program %s: %d members of %d eligible (%d joined, %d left) in %.1f s", program.name,
                     done.members, done.eligible, done.added, done.removed, time.perf_counter() - started)
        files = [_current_file(conn, program, result, export_dir) for program, result in zip(
            programs, results, strict=True) if _written(program)]
    destinations = (settings if settings is not None else nurture_settings())["destinations"]
    failures = deliver_files(files, destinations)
    _remove_undelivered(programs, destinations, export_dir)
    if destinations["files"]["url"] and any("files" in program.destinations for program in programs):
        _remove_left_behind(eng, destinations["files"])
    return NurtureRun(suppressed, results, failures, scope)


def _current_file(conn: Connection, program: Program, result: ListResult,
                  export_dir: Path | None) -> tuple[Program, ListResult, list[list[object]]]:
    """What the program's files get: its latest list, suppression as just refreshed. A rerun of an
    earlier date rebuilds that date in the warehouse only (``lists pull --as-of``); its file would
    hold whoever has been suppressed since, and the latest date's file is written again instead."""
    latest = conn.execute(text("select max(as_of) from nurture.list_runs where program = :program"),
                          {"program": program.name}).scalar()
    if latest is not None and latest > result.as_of:
        result = replace(result, as_of=latest, export_path=export_path(program.name, latest, export_dir)
                         if "csv" in program.destinations else None)
    return program, result, _export_rows(conn, program, result.as_of)


def _remove_csv_files(folder: Path, program: str, keep: Path | None = None) -> list[Path]:
    """Remove the program's dated CSV files from ``folder`` (but ``keep``); return those removed."""
    from smarketing.nurture import files as storage

    gone = [p for p in folder.glob(f"{program}_*.csv") if storage.is_list_file(p.name, program) and p != keep]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _remove_left_behind(eng: Engine, conf: dict[str, Any]) -> None:
    """Remember the files folder, and remove the list files left at an earlier one (the url
    changed): they would keep whoever is suppressed from now on. A folder that cannot be reached
    is said in the log and tried again at the next run."""
    from smarketing.nurture import files as storage

    try:
        here = str(storage.folder(conf))
    except ConfigError:  # no filesystem for the scheme: the delivery said so
        return
    with eng.begin() as conn:
        conn.execute(text("insert into nurture.file_locations (url) values (:url) on conflict (url) do nothing"),
                     {"url": here})
        earlier = conn.execute(text("select url from nurture.file_locations where url <> :url"),
                               {"url": here}).scalars().all()
        programs = conn.execute(text("select distinct program from nurture.list_runs")).scalars().all()
    for url in earlier:
        if url.startswith("file://") and here.startswith("file://") and \
                os.path.realpath(url.removeprefix("file://")) == os.path.realpath(here.removeprefix("file://")):
            continue  # the current folder under another name (a symlink): nothing was left there
        try:
            gone = [path for program in programs for path in storage.remove_program({**conf, "url": url}, program)]
        except (OSError, ConfigError) as exc:
            log.warning("the list files at %s, an earlier destinations.files.url, were not removed: %s (tried"
                        " again at the next run)", url, exc)
            continue
        with eng.begin() as conn:
            conn.execute(text("delete from nurture.file_locations where url = :url"), {"url": url})
        log.info("destinations.files.url moved from %s: the %d list files there were removed", url, len(gone))


def _remove_undelivered(programs: list[Program], destinations: dict[str, Any], export_dir: Path | None) -> None:
    """A program no longer written to ``csv`` or ``files`` leaves no file there: its last one would
    keep whoever is suppressed from now on."""
    from smarketing.nurture import files as storage

    for program in programs:
        gone: list[Any] = []
        if "csv" not in program.destinations:
            gone += _remove_csv_files((export_dir or PATHS.exports) / "nurture", program.name)
        if "files" not in program.destinations and destinations["files"]["url"]:
            gone += storage.remove_program(destinations["files"], program.name)
        if gone:
            log.info("program %s is no longer written to %s: its %d files there were removed", program.name,
                     " or ".join(d for d in ("csv", "files") if d not in program.destinations), len(gone))


def retire_programs(eng: Engine, current: Iterable[str], settings: dict[str, Any] | None = None,
                    export_dir: Path | None = None) -> list[str]:
    """What a program dropped from (or renamed in) config/nurture.yaml leaves outside the warehouse
    goes: its view, its CSV files and its files in the ``files`` folder, which nobody would keep
    current (whoever is suppressed from now on would stay in them). Its lists stay in the warehouse
    (``nurture.list_runs``, ``list_members``); its platform lists are emptied by the next push.
    Returns the programs retired now."""
    from psycopg import sql as psql

    from smarketing.nurture import files as storage

    conf = (settings if settings is not None else nurture_settings())["destinations"]
    with eng.begin() as conn:
        known = conn.execute(text("select distinct program from nurture.list_runs")).scalars().all()
        retired = sorted(set(known) - set(current))
        for name in retired:
            warehouse_dbapi(conn).execute(psql.SQL("drop view if exists {}").format(
                psql.Identifier("nurture", f"list_{name}")))
    for name in retired:
        gone: list[Any] = _remove_csv_files((export_dir or PATHS.exports) / "nurture", name)
        if conf["files"]["url"]:
            gone += storage.remove_program(conf["files"], name)
        if gone:
            log.info("program %s is no longer configured: its view and %d files were removed", name, len(gone))
    return retired


def _written(program: Program) -> bool:
    return "csv" in program.destinations or "files" in program.destinations


def deliver_files(files: list[tuple[Program, ListResult, list[list[object]]]],
                  destinations: dict[str, Any] | None = None) -> list[str]:
    """Write each list's local CSV (with the configured mode and group) and its file in the
    ``files`` folder, as its program's destinations say, then remove the program's older files
    in both: they may hold people suppressed since. Return one line per file that could not be
    written."""
    from smarketing.nurture import files as storage

    conf = destinations if destinations is not None else nurture_settings()["destinations"]
    failures = []
    current: dict[str, date] = {}  # each folder gets each program's latest list only
    for program, result, _ in files:
        current[program.name] = max(current.get(program.name, result.as_of), result.as_of)
    for program, result, rows in files:
        if result.as_of != current[program.name]:
            continue
        if result.export_path is not None:
            try:
                write_csv_atomically(result.export_path, program.fields, rows, int(conf["csv"]["file_mode"], 8),
                                     conf["csv"]["group"] or None)
            except OSError as exc:
                failures.append(f"program {program.name}: could not write {result.export_path}: "
                                f"{exc.strerror or exc} (the list itself is current in the warehouse)")
            _remove_csv_files(result.export_path.parent, program.name, keep=result.export_path)
        if "files" in program.destinations:
            try:
                storage.write(conf["files"], program.name, result.as_of, program.fields, rows)
            except (OSError, ConfigError) as exc:
                failures.append(f"program {program.name}: could not write its file to {conf['files']['url']}:"
                                f" {getattr(exc, 'strerror', None) or exc} (the list itself is current in the"
                                " warehouse)")
    return failures


def build_list(eng: Engine, program: Program, as_of: date, run_id: str, export_dir: Path | None = None) -> ListResult:
    """Replace one program's list for ``as_of``, version it, and deliver it to its file and view
    (suppression as last refreshed). ``build_lists`` does this for every program at once."""
    check_programs(eng, [program], as_of)
    with eng.begin() as conn:
        result = _build(conn, program, as_of, run_id, export_dir)
        file = _current_file(conn, program, result, export_dir)
    failures = deliver_files([file]) if _written(program) else []
    if failures:
        raise DeliveryError("; ".join(failures))
    return result


def _build(conn: Connection, program: Program, as_of: date, run_id: str, export_dir: Path | None) -> ListResult:
    from smarketing.kpis import use_reporting_timezone

    use_reporting_timezone(conn)  # "won in the last 30 days" counts the reporting team's days
    eligibility, statement = _statements(program)
    params = _params(program, as_of)
    key = {"program": program.name, "as_of": as_of}
    conn.execute(text("delete from nurture.list_members where program = :program and as_of = :as_of"), key)
    members = conn.execute(text(statement), params).rowcount
    # eligibility SQL comes from the project's own sql/ folder, never from user input
    eligible = conn.execute(text(f"select count(*) from ({eligibility}) as e"), params).scalar_one()  # noqa: S608
    reasons: dict[str, int] = dict(conn.execute(text(
        f"select s.reason, count(distinct e.person_id) from ({eligibility}) as e"  # noqa: S608 - as above
        " inner join nurture.suppressed as s on e.person_id = s.person_id group by s.reason"), params).all())
    # the other holders of a mailbox on the list: one person per mailbox is written to
    shared = conn.execute(text(
        f"select count(distinct e.person_id) from ({eligibility}) as e"  # noqa: S608 - as above
        " inner join core.active_person as p on e.person_id = p.person_id"
        " where p.email is not null"
        " and not exists (select 1 from nurture.suppressed as s where s.person_id = p.person_id)"
        " and not exists (select 1 from nurture.list_members as l where l.program = :program and l.as_of = :as_of"
        "  and l.person_id = p.person_id)"
        " and exists (select 1 from nurture.list_members as l where l.program = :program and l.as_of = :as_of"
        "  and l.mailbox_key = core.mailbox_key(p.email))"), params).scalar_one()
    if shared:
        reasons["shared_mailbox"] = shared
    later = conn.execute(text("select max(as_of) from nurture.list_runs where program = :program and as_of > :as_of"),
                         key).scalar()
    if later is None:
        added, removed, unchanged = _version(conn, program.name, as_of, run_id)
    else:
        log.warning("program %s: a run for %s exists; %s is rebuilt as a snapshot without changing membership",
                    program.name, later, as_of)
        added, removed, unchanged = _snapshot_changes(conn, program.name, as_of)
        _take_off_latest(conn, program.name, later, run_id)
    # only the latest date has a file (``_current_file``)
    path = export_path(program.name, as_of, export_dir) if "csv" in program.destinations and not later else None
    if "view" in program.destinations:
        _create_view(conn, program)
    conn.execute(
        text(
            "insert into nurture.list_runs (program, as_of, run_id, members, eligible, suppressed, export_path,"
            " added, removed, unchanged, suppressed_reasons) values (:program, :as_of, :run_id, :members, :eligible,"
            " :suppressed, :path, :added, :removed, :unchanged, cast(:reasons as jsonb))"
            " on conflict (program, as_of) do update set run_id = excluded.run_id, members = excluded.members,"
            " eligible = excluded.eligible, suppressed = excluded.suppressed, export_path = excluded.export_path,"
            " added = excluded.added, removed = excluded.removed, unchanged = excluded.unchanged,"
            " suppressed_reasons = excluded.suppressed_reasons, changed_at = now()"
            " where (nurture.list_runs.run_id, nurture.list_runs.members, nurture.list_runs.eligible,"
            " nurture.list_runs.export_path, nurture.list_runs.added, nurture.list_runs.removed,"
            " nurture.list_runs.unchanged, nurture.list_runs.suppressed_reasons) is distinct from (excluded.run_id,"
            " excluded.members, excluded.eligible, excluded.export_path, excluded.added, excluded.removed,"
            " excluded.unchanged, excluded.suppressed_reasons)"
        ),
        {**key, "run_id": run_id, "members": members, "eligible": eligible, "suppressed": eligible - members,
         "path": str(path) if path else None, "added": added, "removed": removed, "unchanged": unchanged,
         "reasons": json.dumps(reasons, sort_keys=True)},
    )
    return ListResult(program.name, as_of, members, eligible, added, removed, unchanged, path)


def _snapshot_changes(conn: Connection, program: str, as_of: date) -> tuple[int, int, int]:
    """(added, removed, unchanged) of an earlier date's rebuilt list against the date before it."""
    key = {"program": program, "as_of": as_of}
    before = conn.execute(text("select max(as_of) from nurture.list_runs where program = :program"
                               " and as_of < :as_of"), key).scalar()
    return conn.execute(text(
        "select count(*) filter (where b.person_id is null), count(*) filter (where l.person_id is null),"
        " count(*) filter (where l.person_id is not null and b.person_id is not null)"
        " from (select person_id from nurture.list_members where program = :program and as_of = :as_of) as l"
        " full join (select person_id from nurture.list_members where program = :program and as_of = :before) as b"
        " on l.person_id = b.person_id"), {**key, "before": before}).one()


def _take_off_latest(conn: Connection, program: str, latest: date, run_id: str) -> None:
    """Take whoever was suppressed since off the latest date's list, its membership and counts, as
    its file is written again (a rerun of an earlier date refreshed suppression)."""
    key = {"program": program, "latest": latest, "run_id": run_id}
    gone = conn.execute(text(
        "delete from nurture.list_members as l where l.program = :program and l.as_of = :latest"
        " and nurture.is_suppressed(l.person_id, l.mailbox_key) returning l.person_id"), key).scalars().all()
    if not gone:
        return
    key["gone"] = gone
    # removed on that date, who joined on it too: its file may have been delivered with them
    joined, left = conn.execute(text(
        "with taken_off as (update nurture.list_membership set removed_on = :latest, removed_run = :run_id"
        " where program = :program and removed_on is null and person_id = any(:gone) returning added_on)"
        " select count(*) filter (where added_on = :latest), count(*) filter (where added_on < :latest)"
        " from taken_off"), key).one()
    reasons: dict[str, int] = dict(conn.execute(text(
        "select reason, count(distinct person_id) from nurture.suppressed where person_id = any(:gone)"
        " group by reason"), key).all())
    stored = conn.execute(text("select suppressed_reasons from nurture.list_runs where program = :program"
                               " and as_of = :latest"), key).scalar_one() or {}
    for reason, count in reasons.items():
        stored[reason] = stored.get(reason, 0) + count
    conn.execute(text(
        "update nurture.list_runs set members = members - :n, suppressed = suppressed + :n, added = added - :joined,"
        " removed = removed + :left, unchanged = unchanged - :left, suppressed_reasons = cast(:reasons as jsonb),"
        " changed_at = now() where program = :program and as_of = :latest"),
        {**key, "n": len(gone), "joined": joined, "left": left, "reasons": json.dumps(stored, sort_keys=True)})
    log.info("program %s: %d suppressed since taken off the list of %s", program, len(gone), latest)


def _version(conn: Connection, program: str, as_of: date, run_id: str) -> tuple[int, int, int]:
    """Move ``nurture.list_membership`` to this run's members; return (added, removed, unchanged)."""
    key = {"program": program, "as_of": as_of, "run_id": run_id}
    # a rerun of this date first undoes what the date changed
    conn.execute(text("delete from nurture.list_membership where program = :program and added_on = :as_of"), key)
    conn.execute(text("update nurture.list_membership set removed_on = null, removed_run = null"
                      " where program = :program and removed_on = :as_of"), key)
    # "not in" (person ids are never null) becomes one hashed lookup; "not exists" was planned as a
    # nested loop over the freshly written list, quadratic in its size (make bench SCALE=1)
    removed = conn.execute(text(
        "update nurture.list_membership m set removed_on = :as_of, removed_run = :run_id"
        " where m.program = :program and m.removed_on is null and m.person_id not in (select l.person_id"
        "  from nurture.list_members l where l.program = :program and l.as_of = :as_of)"), key).rowcount
    added = conn.execute(text(
        "insert into nurture.list_membership (program, person_id, email, added_on, added_run)"
        " select l.program, l.person_id, l.email, l.as_of, :run_id from nurture.list_members l"
        " where l.program = :program and l.as_of = :as_of and l.person_id not in (select m.person_id"
        "  from nurture.list_membership m where m.program = :program and m.removed_on is null)"), key).rowcount
    total = conn.execute(text("select count(*) from nurture.list_members where program = :program and as_of = :as_of"),
                         key).scalar_one()
    return added, removed, total - added


def _create_view(conn: Connection, program: Program) -> None:
    """The marketing view of the program's current members, its description as the view's comment."""
    from psycopg import sql as psql

    view = psql.Identifier("nurture", f"list_{program.name}")
    warehouse_dbapi(conn).execute(psql.SQL(
        "create or replace view {} as select m.person_id, m.email, l.first_name, l.last_name, l.attributes,"
        " m.added_on from nurture.list_membership m join nurture.list_members l on l.program = m.program"
        " and l.person_id = m.person_id and l.as_of = (select max(as_of) from nurture.list_runs r"
        " where r.program = m.program) where m.program = {} and m.removed_on is null"
        " and not nurture.is_suppressed(m.person_id, l.mailbox_key)"
    ).format(view, psql.Literal(program.name)))
    warehouse_dbapi(conn).execute(psql.SQL("comment on view {} is {}").format(
        view, psql.Literal(program.description or None)))


def _export_rows(conn: Connection, program: Program, as_of: date) -> list[list[object]]:
    rows = conn.execute(
        text("select email, first_name, last_name,"
             " (select jsonb_object_agg(key, value) from jsonb_each_text(attributes)) as attributes"
             " from nurture.list_members where program = :program and as_of = :as_of"
             " and not nurture.is_suppressed(person_id, mailbox_key) order by email"),
        {"program": program.name, "as_of": as_of},
    ).all()
    out = []
    for row in rows:
        base = dict(zip(BASE_FIELDS, row[:3], strict=True))
        attributes = row[3] or {}
        out.append([base[f] if f in base else attributes.get(f) for f in program.fields])
    return out


def write_csv_atomically(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]], mode: int = 0o600,
                         group: str | None = None) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see a partial file.
    Temporary files a killed writer left behind are removed first. Cells a spreadsheet would run
    as formulas are neutralised (``spreadsheet_safe``). The file gets ``mode`` and, if given, ``group``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([spreadsheet_safe(value) for value in row] for row in rows)
        os.chmod(tmp, mode)
        if group:
            import grp

            os.chown(tmp, -1, grp.getgrnam(group).gr_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
