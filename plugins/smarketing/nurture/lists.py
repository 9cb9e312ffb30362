"""Build each program's list for an as-of date, suppression applied, versioned, and delivered.

Suppression is decided in ``sql/nurture/suppressed.sql`` and enforced in
``sql/nurture/list_members.sql``, the one statement every program's list goes through.

Per run and program: the snapshot ``nurture.list_members`` for the as-of date; the versioned
``nurture.list_membership`` (added on, removed on) with the diff against the previous run in
``nurture.list_runs``; a CSV ``<program>_<as_of>.csv`` written atomically; a view
``nurture.list_<program>`` of the current members for the ``smarketing_marketing`` role.
Rerunning an as-of date undoes that date's changes first, so it gives the same list, diff and file.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from smarketing.config import PATHS
from smarketing.nurture.programs import BASE_FIELDS, Program, nurture_settings
from smarketing.warehouse import run_sql_file, sql_path

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


def suppression_params(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    conf = (settings if settings is not None else nurture_settings()).get("suppression") or {}
    return {
        "require_legal_basis": bool(conf.get("require_legal_basis", True)),
        "hard_bounce_categories": list(conf.get("hard_bounce_categories") or ["UNKNOWN_USER"]),
        "excluded_domains": [d.lower() for d in conf.get("excluded_domains") or []],
    }


def refresh_suppression(eng: Engine, settings: dict[str, Any] | None = None) -> dict[str, int]:
    """Rebuild ``nurture.suppressed``; return people suppressed per reason."""
    with eng.begin() as conn:
        conn.execute(text("delete from nurture.suppressed"))
        run_sql_file(conn, "nurture/suppressed.sql", suppression_params(settings))
        rows = conn.execute(text("select reason, count(*) from nurture.suppressed group by reason order by reason"))
        return {reason: count for reason, count in rows}


def export_path(program: str, as_of: date, export_dir: Path | None = None) -> Path:
    return (export_dir or PATHS.exports) / "nurture" / f"{program}_{as_of.isoformat()}.csv"


def build_list(eng: Engine, program: Program, as_of: date, run_id: str, export_dir: Path | None = None) -> ListResult:
    """Replace the program's list for ``as_of``, version it, and deliver it to its file and view."""
    eligibility = sql_path(program.eligibility).read_text().strip().rstrip(";")
    statement = sql_path("nurture/list_members.sql").read_text().replace("{eligibility}", eligibility)
    params = {**program.params, "program": program.name, "as_of": as_of}
    key = {"p": program.name, "d": as_of}
    with eng.begin() as conn:
        conn.execute(text("delete from nurture.list_members where program = :p and as_of = :d"), key)
        members = conn.execute(text(statement), params).rowcount
        # eligibility SQL comes from the project's own sql/ folder, never from user input
        eligible = conn.execute(text(f"select count(*) from ({eligibility}) as e"), params).scalar_one()  # noqa: S608
        added, removed, unchanged = _version(conn, program.name, as_of, run_id)
        path = None
        if "csv" in program.destinations:
            path = export_path(program.name, as_of, export_dir)
            write_csv_atomically(path, program.fields, _export_rows(conn, program, as_of))
        if "view" in program.destinations:
            _create_view(conn, program.name)
        conn.execute(
            text(
                "insert into nurture.list_runs (program, as_of, run_id, members, eligible, suppressed, export_path,"
                " added, removed, unchanged) values (:p, :d, :r, :m, :e, :s, :path, :a, :rm, :u)"
                " on conflict (program, as_of) do update set run_id = excluded.run_id, members = excluded.members,"
                " eligible = excluded.eligible, suppressed = excluded.suppressed, export_path = excluded.export_path,"
                " added = excluded.added, removed = excluded.removed, unchanged = excluded.unchanged,"
                " changed_at = now()"
                " where (nurture.list_runs.run_id, nurture.list_runs.members, nurture.list_runs.eligible,"
                " nurture.list_runs.export_path, nurture.list_runs.added, nurture.list_runs.removed,"
                " nurture.list_runs.unchanged) is distinct from (excluded.run_id, excluded.members,"
                " excluded.eligible, excluded.export_path, excluded.added, excluded.removed, excluded.unchanged)"
            ),
            {**key, "r": run_id, "m": members, "e": eligible, "s": eligible - members,
             "path": str(path) if path else None, "a": added, "rm": removed, "u": unchanged},
        )
    return ListResult(program.name, as_of, members, eligible, added, removed, unchanged, path)


def _version(conn: Connection, program: str, as_of: date, run_id: str) -> tuple[int, int, int]:
    """Move ``nurture.list_membership`` to this run's members; return (added, removed, unchanged)."""
    key = {"p": program, "d": as_of, "r": run_id}
    later = conn.execute(text("select max(as_of) from nurture.list_runs where program = :p and as_of > :d"),
                         key).scalar()
    if later is not None:
        log.warning("program %s: a run for %s exists; %s is rebuilt as a snapshot without changing membership",
                    program, later, as_of)
        return 0, 0, 0
    # a rerun of this date first undoes what the date changed
    conn.execute(text("delete from nurture.list_membership where program = :p and added_on = :d"), key)
    conn.execute(text("update nurture.list_membership set removed_on = null, removed_run = null"
                      " where program = :p and removed_on = :d"), key)
    # "not in" (person ids are never null) becomes one hashed lookup; "not exists" was planned as a
    # nested loop over the freshly written list, quadratic in its size (make bench SCALE=1)
    removed = conn.execute(text(
        "update nurture.list_membership m set removed_on = :d, removed_run = :r"
        " where m.program = :p and m.removed_on is null and m.person_id not in (select l.person_id"
        "  from nurture.list_members l where l.program = :p and l.as_of = :d)"), key).rowcount
    added = conn.execute(text(
        "insert into nurture.list_membership (program, person_id, email, added_on, added_run)"
        " select l.program, l.person_id, l.email, l.as_of, :r from nurture.list_members l"
        " where l.program = :p and l.as_of = :d and l.person_id not in (select m.person_id"
        "  from nurture.list_membership m where m.program = :p and m.removed_on is null)"), key).rowcount
    total = conn.execute(text("select count(*) from nurture.list_members where program = :p and as_of = :d"),
                         key).scalar_one()
    return added, removed, total - added


def _create_view(conn: Connection, program: str) -> None:
    from psycopg import sql as psql

    conn.connection.driver_connection.execute(psql.SQL(
        "create or replace view nurture.{} as select m.person_id, m.email, l.first_name, l.last_name, l.attributes,"
        " m.added_on from nurture.list_membership m join nurture.list_members l on l.program = m.program"
        " and l.person_id = m.person_id and l.as_of = (select max(as_of) from nurture.list_runs r"
        " where r.program = m.program) where m.program = {} and m.removed_on is null"
    ).format(psql.Identifier(f"list_{program}"), psql.Literal(program)))


def _export_rows(conn: Connection, program: Program, as_of: date) -> list[list[object]]:
    rows = conn.execute(
        text("select email, first_name, last_name,"
             " (select jsonb_object_agg(key, value) from jsonb_each_text(attributes)) as attributes"
             " from nurture.list_members where program = :p and as_of = :d order by email"),
        {"p": program.name, "d": as_of},
    ).all()
    out = []
    for row in rows:
        base = dict(zip(BASE_FIELDS, row[:3], strict=True))
        attributes = row[3] or {}
        out.append([base[f] if f in base else attributes.get(f) for f in program.fields])
    return out


def write_csv_atomically(path: Path, header: tuple[str, ...], rows: list[list[object]]) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see a partial file.
    Temporary files a killed writer left behind are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
