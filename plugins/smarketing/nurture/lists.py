"""Build each program's list for an as-of date, suppression applied, and export it as CSV.

Suppression is decided in ``sql/nurture/suppressed.sql`` and enforced in
``sql/nurture/list_members.sql``, the one statement every program's list goes through.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from smarketing.config import PATHS
from smarketing.nurture.programs import BASE_FIELDS, Program
from smarketing.warehouse import run_sql_file, sql_path


@dataclass
class ListResult:
    program: str
    as_of: date
    members: int
    eligible: int
    export_path: Path


def refresh_suppression(eng: Engine) -> dict[str, int]:
    """Rebuild ``nurture.suppressed``; return people suppressed per reason."""
    with eng.begin() as conn:
        conn.execute(text("delete from nurture.suppressed"))
        run_sql_file(conn, "nurture/suppressed.sql")
        rows = conn.execute(text("select reason, count(*) from nurture.suppressed group by reason order by reason"))
        return {reason: count for reason, count in rows}


def export_path(program: str, as_of: date, export_dir: Path | None = None) -> Path:
    return (export_dir or PATHS.exports) / "nurture" / f"{program}_{as_of.isoformat()}.csv"


def build_list(eng: Engine, program: Program, as_of: date, run_id: str, export_dir: Path | None = None) -> ListResult:
    """Replace the program's list for ``as_of`` and write its CSV; rerunning gives the same list and file."""
    eligibility = sql_path(program.eligibility).read_text().strip().rstrip(";")
    statement = sql_path("nurture/list_members.sql").read_text().replace("{eligibility}", eligibility)
    params = {**program.params, "program": program.name, "as_of": as_of}
    with eng.begin() as conn:
        conn.execute(text("delete from nurture.list_members where program = :p and as_of = :d"),
                     {"p": program.name, "d": as_of})
        members = conn.execute(text(statement), params).rowcount
        # eligibility SQL comes from the project's own sql/ folder, never from user input
        eligible = conn.execute(text(f"select count(*) from ({eligibility}) as e"), params).scalar_one()  # noqa: S608
        rows = conn.execute(
            text("select email, first_name, last_name,"
                 " (select jsonb_object_agg(key, value) from jsonb_each_text(attributes)) as attributes"
                 " from nurture.list_members"
                 " where program = :p and as_of = :d order by email"),
            {"p": program.name, "d": as_of},
        ).all()
        path = export_path(program.name, as_of, export_dir)
        write_csv_atomically(path, program.fields, (_export_row(row, program.fields) for row in rows))
        conn.execute(
            text(
                "insert into nurture.list_runs (program, as_of, run_id, members, eligible, suppressed, export_path)"
                " values (:p, :d, :r, :m, :e, :s, :path) on conflict (program, as_of) do update set"
                " run_id = excluded.run_id, members = excluded.members, eligible = excluded.eligible,"
                " suppressed = excluded.suppressed, export_path = excluded.export_path, changed_at = now()"
                " where (nurture.list_runs.run_id, nurture.list_runs.members, nurture.list_runs.eligible,"
                " nurture.list_runs.export_path) is distinct from"
                " (excluded.run_id, excluded.members, excluded.eligible, excluded.export_path)"
            ),
            {"p": program.name, "d": as_of, "r": run_id, "m": members, "e": eligible, "s": eligible - members,
             "path": str(path)},
        )
    return ListResult(program.name, as_of, members, eligible, path)


def _export_row(row: object, fields: tuple[str, ...]) -> list[object]:
    base = dict(zip(BASE_FIELDS, row[:3], strict=True))  # type: ignore[index]
    attributes = row[3] or {}  # type: ignore[index]
    return [base[f] if f in base else attributes.get(f) for f in fields]


def write_csv_atomically(path: Path, header: tuple[str, ...], rows: object) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
