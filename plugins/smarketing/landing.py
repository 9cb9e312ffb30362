"""Landing: pages from a source into ``raw.<source>__<entity>``, one transaction per page.

Each page is COPYed straight into the raw table, or, when some of its versions are there
already, through a temporary table with ``on conflict do nothing`` on (record_id, version_at).
The entity's cursor in ``meta.sync_state`` advances in the same transaction. A crash loses at
most the page in flight, which the next run fetches again; a rerun of the same window adds
nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
from sqlalchemy import Connection, Engine, text

from smarketing.sources.base import RawRecord, Source
from smarketing.warehouse import dbapi as warehouse_dbapi
from smarketing.warehouse import raw_table

log = logging.getLogger(__name__)
COLUMNS = ("record_id", "version_at", "is_deleted", "payload", "batch_id", "extracted_at")


@dataclass
class LandingStats:
    source: str
    entity: str
    received: int = 0
    new: int = 0
    pages: int = 0
    cursor_at: datetime | None = None
    deleted: int = 0  # records a full resync found gone from the source


def read_cursor(eng: Engine, source: str, entity: str) -> datetime | None:
    with eng.connect() as conn:
        return conn.execute(
            text("select cursor_at from meta.sync_state where source = :source and entity = :entity"),
            {"source": source, "entity": entity},
        ).scalar()


def ensure_raw_table(conn: Connection, source: str, entity: str) -> str:
    """Create ``raw.<source>__<entity>`` on first use, so a new entity or file drop needs no migration.

    A table that is ready (its ``batch_id`` index and checked-batch trigger in place) is only
    looked up: ``create index if not exists`` locks the table even when the index exists, against
    vacuum and analyze and against another loader's inserts, and waited for autovacuum to give way
    (a second a page in the bench's incremental landing)."""
    table = raw_table(source, entity)
    ready = conn.execute(
        text("select exists (select from pg_catalog.pg_trigger where tgrelid = to_regclass(:table)"
             " and tgname = 'refuse_rows_of_checked_batches') and to_regclass(:index) is not null"),
        {"table": table, "index": f"raw.{source}__{entity}_batch_id_idx"},
    ).scalar()
    if ready:
        return table
    conn.exec_driver_sql(
        f"create table if not exists {table} (record_id text not null, version_at timestamptz not null,"
        " is_deleted boolean not null default false, payload jsonb not null, batch_id uuid not null,"
        " extracted_at timestamptz not null, primary key (record_id, version_at))"
    )
    conn.exec_driver_sql(f"create index if not exists {source}__{entity}_batch_id_idx on {table} (batch_id)")
    conn.exec_driver_sql(f"call meta.close_checked_batches('{table}')")  # V020: no rows join a checked batch
    return table


_ENCODER = msgspec.json.Encoder(enc_hook=str)
_CHUNK = 1000  # rows per COPY write: the server parses one chunk while the next is encoded


def _copy_text(value: str) -> str:
    """``value`` escaped for COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character in its strings (keys too) replaced by U+FFFD: PostgreSQL
    text and jsonb cannot hold NUL, and one such field must not stop a whole page."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _encode(payload: dict[str, Any]) -> str:
    encoded = _ENCODER.encode(payload).decode()
    if "\\u0000" in encoded:  # rare: look closer only then
        cleaned = without_nul(payload)
        if cleaned != payload:
            log.warning("a payload held NUL characters; landed with U+FFFD in their place")
            encoded = _ENCODER.encode(cleaned).decode()
    return encoded.replace("\\", "\\\\")


def _copy_chunks(page: list[RawRecord], batch_id: str, extracted_at: datetime) -> Iterator[bytes]:
    """The page as COPY text, in chunks. Payloads are encoded by msgspec, whose JSON holds no raw
    control characters, so doubling backslashes escapes it: several times faster than json.dumps
    plus psycopg's per-row formatting (measured with bench/)."""
    tail = f"\t{batch_id}\t{extracted_at.isoformat()}\n"
    for start in range(0, len(page), _CHUNK):
        yield "".join(
            f"{_copy_text(r.record_id)}\t{r.version_at.isoformat()}\t{'t' if r.is_deleted else 'f'}\t"
            f"{_encode(r.payload)}{tail}"
            for r in page[start:start + _CHUNK]
        ).encode()


def _insert_new(conn: Connection, table: str, chunks: Iterator[bytes]) -> int | None:
    """Insert the rows that ``table`` lacks; return how many were new (None: all of them).

    First a plain COPY into the table (in a savepoint): on a first load, and on every page of an
    incremental one but those the lookback re-reads, nothing is there yet. When a row already is,
    the savepoint is rolled back and the page goes through a temporary table with
    ``on conflict do nothing``."""
    dbapi = warehouse_dbapi(conn)
    columns = "(" + ", ".join(COLUMNS) + ")"
    sent: list[bytes] = []
    try:
        with conn.begin_nested(), dbapi.cursor() as cur, cur.copy(f"copy {table} {columns} from stdin") as copy:
            for chunk in chunks:
                sent.append(chunk)
                copy.write(chunk)
        return None
    except psycopg.errors.UniqueViolation:
        sent.extend(chunks)
    conn.exec_driver_sql(f"create temp table landing (like {table} including defaults) on commit drop")
    with dbapi.cursor() as cur, cur.copy(f"copy landing {columns} from stdin") as copy:
        for chunk in sent:
            copy.write(chunk)
    insert = f"insert into {table} select * from landing on conflict do nothing"  # noqa: S608 - raw_table() validated
    new = conn.exec_driver_sql(insert).rowcount
    conn.exec_driver_sql("drop table landing")
    return new


def land_page(eng: Engine, source: str, entity: str, page: list[RawRecord], run_id: str,
              cursor_ceiling: datetime) -> int:
    """Land one page and advance the cursor in one transaction; return the rows that were new."""
    table = raw_table(source, entity)
    batch_id = str(uuid.uuid4())
    extracted_at = datetime.now(UTC)
    # Bookmark = min(sync start, max version seen): records modified while we page are re-read next run.
    page_cursor = min(max(r.version_at for r in page), cursor_ceiling)
    with eng.begin() as conn:
        ensure_raw_table(conn, source, entity)
        new = _insert_new(conn, table, _copy_chunks(page, batch_id, extracted_at))
        new = len(page) if new is None else new
        conn.execute(  # a page that brought nothing new has nothing to validate
            text(
                "insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new, validated_at,"
                " rows_checked) values (:batch_id, :run_id, :source, :entity, :received, :new,"
                " case when :new = 0 then now() end, case when :new = 0 then 0 end)"
            ),
            {"batch_id": batch_id, "run_id": run_id, "source": source, "entity": entity, "received": len(page),
             "new": new},
        )
        conn.execute(
            text(
                "insert into meta.sync_state (source, entity, cursor_at, rows_total)"
                " values (:source, :entity, :cursor_at, :new)"
                " on conflict (source, entity) do update set"
                " cursor_at = greatest(meta.sync_state.cursor_at, excluded.cursor_at),"
                " rows_total = meta.sync_state.rows_total + excluded.rows_total, updated_at = now()"
            ),
            {"source": source, "entity": entity, "cursor_at": page_cursor, "new": new},
        )
    return new


def land_entity(eng: Engine, source: Source, entity: str, run_id: str,
                lookback: timedelta = timedelta(0), resync: bool = False) -> LandingStats:
    """Extract ``entity`` from ``source`` since its cursor (minus ``lookback``) and land it; with
    ``resync``, from the beginning, then land a deletion for every record still live in raw that
    the whole read no longer brought (a hard delete the incremental reads could not see)."""
    started = datetime.now(UTC)
    cursor = None if resync else read_cursor(eng, source.name, entity)
    stats = LandingStats(source.name, entity, cursor_at=cursor)
    seen: set[str] = set()
    clock = time.perf_counter()
    for page in source.extract(entity, cursor - lookback if cursor else None):
        if not page:
            continue
        new = land_page(eng, source.name, entity, page, run_id, started)
        stats.new += new
        stats.received += len(page)
        stats.pages += 1
        seconds = time.perf_counter() - clock
        log.info("%s %s: page %d, %d records (%d new), %d so far at %.0f records/s", source.name, entity,
                 stats.pages, len(page), new, stats.received, stats.received / seconds if seconds else 0)
        if resync:
            seen.update(r.record_id for r in page)
    if resync and entity in getattr(source, "whole_on_full_read", ()):
        stats.deleted = _land_gone(eng, source.name, entity, seen, run_id, started)
    stats.cursor_at = read_cursor(eng, source.name, entity)
    fields_read = getattr(source, "fields_read", None)
    if fields_read is not None:
        note_fields(eng, source.name, entity, fields_read(entity))
    return stats


def note_fields(eng: Engine, source: str, entity: str, fields: list[str] | None) -> None:
    """Keep the fields an extract asked the source for; when they differ from the last run's (a
    custom field made or deleted, multi-currency switched on), say so once, on this run."""
    if fields is None:
        return
    with eng.begin() as conn:
        before = conn.execute(text("select fields from meta.sync_state where source = :source and entity = :entity"),
                              {"source": source, "entity": entity}).scalar()
        if before is not None and set(before) != set(fields):
            gone, new = sorted(set(before) - set(fields)), sorted(set(fields) - set(before))
            changes = ([f"no longer there: {', '.join(gone)}"] if gone else []) + \
                ([f"new: {', '.join(new)}"] if new else [])
            log.warning("%s %s: the fields read changed since the last run: %s", source, entity, "; ".join(changes))
        conn.execute(text("insert into meta.sync_state (source, entity, fields) values (:source, :entity, :fields)"
                          " on conflict (source, entity) do update set fields = excluded.fields"),
                     {"source": source, "entity": entity, "fields": list(fields)})


def _land_gone(eng: Engine, source: str, entity: str, seen: set[str], run_id: str, at: datetime) -> int:
    """Deletions for the records whose latest landed version is live but a full read lacked."""
    table = raw_table(source, entity)
    with eng.connect() as conn:
        if conn.execute(text("select to_regclass(:table)"), {"table": table}).scalar() is None:
            return 0  # nothing ever landed: nothing to miss
        live = conn.exec_driver_sql(
            f"select record_id from (select distinct on (record_id) record_id, is_deleted from {table}"  # noqa: S608 - raw_table() validated
            " order by record_id, version_at desc) as latest where not is_deleted").scalars().all()
        missing = [record_id for record_id in live if record_id not in seen]
        # each deletion carries the record's last payload, so validation judges it as before
        last = conn.execute(text(
            f"select distinct on (record_id) record_id, payload from {table} where record_id = any(:ids)"  # noqa: S608
            " order by record_id, version_at desc"), {"ids": missing}).all() if missing else []
    gone = [RawRecord(record_id, at, payload, True) for record_id, payload in last]
    for start in range(0, len(gone), 1000):
        land_page(eng, source, entity, gone[start:start + 1000], run_id, at)
    if gone:
        log.warning("%s %s: %d records no longer in the source after a full read: landed as deletions", source,
                    entity, len(gone))
    return len(gone)


def land_source(eng: Engine, source: Source, run_id: str, lookback: timedelta = timedelta(0),
                resync: set[str] | frozenset[str] = frozenset()) -> list[LandingStats]:
    return [land_entity(eng, source, entity, run_id, lookback, entity in resync) for entity in source.entities]
