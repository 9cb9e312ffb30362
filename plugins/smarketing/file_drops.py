"""File drops: CSV and JSON Lines exports from any CRM or email tool, landed like an API source.

Each drop in ``config/file_drops.yaml`` names a folder (a local path, or any URL Airflow's
``ObjectStoragePath`` reads, such as ``s3://bucket/exports``), a file pattern, the format, and
how to map columns to fields. Rules:

- a file is loaded once, recognised by its SHA-256 checksum (renaming it changes nothing);
- a file is loaded whole in one transaction or not at all: one that cannot be decoded, lacks a
  required column, or has no rows is rejected with the reason in ``meta.file_loads`` and an error
  naming the file; nothing of it lands;
- a malformed row (missing id or required value, a date or number that does not parse, a broken
  JSON line, the wrong number of fields) goes to ``quarantine.records`` with its reason, and the
  rest of the file loads;
- rows land in ``raw.file__<entity>``; a row's version is the time its file was loaded, so a later
  export of the same id supersedes the earlier one; within one file the last line of an id wins and
  the earlier ones are quarantined saying so. Every data row is thus either loaded or quarantined.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from smarketing.config import PATHS
from smarketing.landing import COLUMNS, ensure_raw_table, without_nul
from smarketing.warehouse import copy_rows

SOURCE = "file"
log = logging.getLogger(__name__)


class FileDropError(RuntimeError):
    """A whole file was rejected; the message names the file and the reason."""


@dataclass(frozen=True)
class Drop:
    name: str
    entity: str
    location: str
    pattern: str = "*.csv"
    format: str = "csv"
    delimiter: str = ","
    encoding: str = "utf-8"
    id_column: str = "id"
    columns: dict[str, str] = field(default_factory=dict)  # file column -> field; empty: keep names
    required: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    date_format: str = "%Y-%m-%d"
    decimal: str = "."


@dataclass
class DropStats:
    drop: str
    files_loaded: int = 0
    files_skipped: int = 0
    files_rejected: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0


def load_drops(path: Path | None = None) -> list[Drop]:
    """The drops of ``config/file_drops.yaml`` (or ``path``), validated; none when it is absent."""
    from smarketing import settings

    drops = []
    for name, spec in settings.load("file_drops", path=path)["drops"].items():
        location = spec.pop("location")
        if "://" not in location and not Path(location).is_absolute():
            location = str(PATHS.root / location)
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        drops.append(Drop(name=name, location=location, **fields))
    return drops


def _files(drop: Drop) -> list[tuple[str, bytes]]:
    """(name, content) of every file matching the drop's pattern, in name order."""
    if "://" in drop.location and not drop.location.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        remote = ObjectStoragePath(drop.location)
        return [(p.name, p.read_bytes()) for p in sorted(remote.glob(drop.pattern), key=lambda p: p.name)]
    folder = Path(drop.location.removeprefix("file://"))
    if not folder.is_dir():
        raise FileDropError(f"drop {drop.name}: folder {folder} does not exist")
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob(drop.pattern)) if p.is_file()]


def _decode(drop: Drop, name: str, content: bytes) -> str:
    try:
        text_ = content.decode(drop.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise FileDropError(f"drop {drop.name}: file {name} is not valid {drop.encoding}: {exc}") from exc
    return text_.removeprefix("\ufeff")  # a byte-order mark is not part of the first column name


def _rows(drop: Drop, name: str, content: bytes) -> list[tuple[int, dict[str, Any] | None, str]]:
    """(line number, row or None, problem) for every data row; raises FileDropError for the whole file."""
    body = _decode(drop, name, content)
    out: list[tuple[int, dict[str, Any] | None, str]] = []
    if drop.format == "jsonl":
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((number, None, f"line {number} is not valid JSON: {exc.msg}"))
                continue
            if not isinstance(row, dict):
                out.append((number, None, f"line {number} is a JSON {type(row).__name__}, not an object"))
                continue
            out.append((number, row, ""))
    else:
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=drop.delimiter)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise FileDropError(f"drop {drop.name}: file {name} is empty or has no header row")
        header = [h.strip() for h in header]
        for values in reader:
            number = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                out.append((number, None, f"line {number} has {len(values)} fields, the header has {len(header)}"))
                continue
            out.append((number, dict(zip(header, values, strict=True)), ""))
        needed = [drop.id_column, *_required_source_columns(drop), *drop.columns]  # a mapped column must be
        missing = sorted({c for c in needed if c not in header})  # there: a renamed one would drop its field
        if missing:
            raise FileDropError(  # the header's values are not shown: a file without one has a data row there
                f"drop {drop.name}: file {name} lacks required column(s) {missing} in its first line"
                f" ({len(header)} fields); is the first line a header, and is the delimiter {drop.delimiter!r}?"
            )
    if not out:
        raise FileDropError(f"drop {drop.name}: file {name} has no data rows")
    return out


def _required_source_columns(drop: Drop) -> list[str]:
    reverse = {target: source for source, target in drop.columns.items()}
    return [reverse.get(f, f) for f in drop.required]


def _shape(drop: Drop, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Map and type one row; (None, reason) when it is malformed."""
    record_id = str(row.get(drop.id_column) or "").strip()
    if not record_id:
        return None, f"no value in id column {drop.id_column!r}"
    # a mapped column wins over an unmapped one that happens to carry the field's name (an extra
    # "email_opt_out" column once blanked the mapped "Do not email" and let the address through)
    mapped = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k not in drop.columns}
    mapped.update({drop.columns[k]: (v.strip() if isinstance(v, str) else v) for k, v in row.items()
                   if k in drop.columns})
    for name in drop.required:
        if mapped.get(name) in (None, ""):
            return None, f"required field {name!r} is empty"
    for name in drop.dates:
        value = mapped.get(name)
        if value in (None, ""):
            mapped[name] = None
            continue
        try:
            mapped[name] = datetime.strptime(str(value), drop.date_format).date().isoformat()
        except ValueError:
            return None, f"field {name!r} does not match the date format {drop.date_format!r}"
    for name in drop.numbers:
        value = mapped.get(name)
        if value in (None, ""):
            mapped[name] = None
            continue
        cleaned = str(value).replace(" ", "")
        if drop.decimal != ".":
            # '.' only groups thousands then: "1200.50" is no number there (it read as 120050)
            if "." in cleaned and not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(" + re.escape(drop.decimal) + r"\d*)?",
                                                   cleaned):
                return None, (f"field {name!r} is not a number (decimal separator {drop.decimal!r},"
                              " '.' groups thousands)")
            cleaned = cleaned.replace(".", "").replace(drop.decimal, ".")
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():  # 'Infinity' and 'NaN' are Decimals, and no amount
            return None, f"field {name!r} is not a number (decimal separator {drop.decimal!r})"
        mapped[name] = str(number)
    mapped["_record_id"] = record_id
    return mapped, ""


def load_drop(eng: Engine, drop: Drop, run_id: str) -> DropStats:
    """Load every new file of ``drop``; a rejected file raises only after the others are loaded.
    Loads of one drop take turns (an advisory lock): a second one waits, then skips what the first
    loaded."""
    from smarketing.warehouse import take_turn

    with eng.connect() as lock:
        take_turn(lock, f"file_drop:{drop.name}", f"drop {drop.name}", session=True)
        lock.commit()
        try:
            return _load_new_files(eng, drop, run_id)
        finally:
            lock.execute(text("select pg_advisory_unlock(hashtext(:key))"), {"key": f"file_drop:{drop.name}"})
            lock.commit()


def _load_new_files(eng: Engine, drop: Drop, run_id: str) -> DropStats:
    stats = DropStats(drop.name)
    errors = []
    for name, content in _files(drop):
        checksum = hashlib.sha256(content).hexdigest()
        with eng.connect() as conn:
            seen = conn.execute(
                text("select status from meta.file_loads where drop_name = :drop_name and checksum = :checksum"
                     " and status = 'loaded'"),
                {"drop_name": drop.name, "checksum": checksum},
            ).first()
        if seen:
            stats.files_skipped += 1
            continue
        try:
            loaded, quarantined = _load_file(eng, drop, name, content, checksum, run_id)
        except FileDropError as exc:
            _record_file(eng, drop, name, checksum, run_id, "rejected", 0, 0, str(exc))
            stats.files_rejected.append(name)
            errors.append(str(exc))
            continue
        stats.files_loaded += 1
        stats.rows_loaded += loaded
        stats.rows_quarantined += quarantined
    if errors:
        raise FileDropError("; ".join(errors) + " (other files of the drop were loaded)")
    return stats


def _record_file(eng: Engine, drop: Drop, name: str, checksum: str, run_id: str, status: str, rows: int,
                 quarantined: int, reason: str | None, conn: Any = None) -> None:
    statement = text(
        "insert into meta.file_loads (drop_name, file_name, checksum, run_id, status, rows_loaded, rows_quarantined,"
        " reason) values (:drop_name, :file_name, :checksum, :run_id, :status, :rows_loaded, :rows_quarantined,"
        " :reason) on conflict (drop_name, checksum) do update set"
        " file_name = excluded.file_name, run_id = excluded.run_id, status = excluded.status,"
        " rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,"
        " reason = excluded.reason, loaded_at = now()"
    )
    params = {"drop_name": drop.name, "file_name": name, "checksum": checksum, "run_id": run_id, "status": status,
              "rows_loaded": rows, "rows_quarantined": quarantined, "reason": reason}
    if conn is not None:
        conn.execute(statement, params)
    else:
        with eng.begin() as own:
            own.execute(statement, params)


def _load_file(eng: Engine, drop: Drop, name: str, content: bytes, checksum: str, run_id: str) -> tuple[int, int]:
    rows = _rows(drop, name, content)
    loaded_at = datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    good, bad = [], []

    def reject(number: int, row: object, reason: str) -> None:
        # the mapped fields too: suppression reads an opt-out from a quarantined row (sql/nurture)
        mapped = ({drop.columns.get(k, k): v for k, v in row.items()} if isinstance(row, dict) else {})
        bad.append({"record_id": f"{name}:{number}", "reason": f"{name} line {number}: {reason}",
                    "payload": json.dumps({"file": name, "line": number, "row": without_nul(row),
                                           "mapped": without_nul(mapped)}, default=str)})

    for number, row, problem in rows:
        if row is not None and without_nul(row) != row:
            reject(number, row, "contains a NUL character (0x00), which PostgreSQL cannot store; stored here as"
                                " U+FFFD")
            continue
        shaped, reason = _shape(drop, row) if row is not None else (None, problem)
        if shaped is None:
            reject(number, row, reason)
            continue
        record_id = shaped.pop("_record_id")
        good.append((record_id, number, row, shaped | {"_file": name, "_line": number}))
    latest: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    for record_id, number, row, payload in reversed(good):  # the last line of an id in a file wins
        if record_id in latest:
            reject(number, row, f"id {record_id!r} appears again on line {lines[record_id]}, which is loaded")
            continue
        latest[record_id], lines[record_id] = payload, number
    with eng.begin() as conn:
        table = ensure_raw_table(conn, SOURCE, drop.entity)
        copy_rows(conn, table, COLUMNS, (
            (record_id, loaded_at, False, json.dumps(payload, separators=(",", ":")), batch_id, loaded_at)
            for record_id, payload in latest.items()
        ))
        conn.execute(
            text("insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new)"
                 " values (:batch_id, :run_id, :source, :entity, :rows, :rows)"),
            {"batch_id": batch_id, "run_id": run_id, "source": SOURCE, "entity": drop.entity, "rows": len(latest)},
        )
        if bad:
            conn.execute(
                text("insert into quarantine.records (source, entity, record_id, version_at, suite, expectation,"
                     " column_name, reason, payload, run_id) values (:source, :entity, :record_id, :version_at,"
                     " 'file_drop', 'parse', '', :reason, cast(:payload as jsonb), :run_id) on conflict do nothing"),
                [{**b, "source": SOURCE, "entity": drop.entity, "version_at": loaded_at, "run_id": run_id}
                 for b in bad],
            )
        _record_file(eng, drop, name, checksum, run_id, "loaded", len(latest), len(bad), None, conn)
    return len(latest), len(bad)
