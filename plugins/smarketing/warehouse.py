"""The warehouse: engine, versioned migrations, SQL files, and COPY-based bulk loads."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, text

from smarketing.paths import PATHS, ConfigError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

MIGRATION_NAME = re.compile(r"^V(\d{3,})__([a-z0-9_]+)\.sql$")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
SCHEMAS = ("raw", "quarantine", "staging", "core", "marts", "nurture", "meta", "quality_work")


class MigrationError(RuntimeError):
    """The migration folder or the recorded history is inconsistent."""


@lru_cache(maxsize=8)
def engine(url: str) -> Engine:
    """One pooled engine per URL and process, made only where no other role can plant code on its
    search path (``check_search_path``): every command and task connects through here."""
    if "passfile=" in url and os.environ.pop("PGPASSWORD", None) is not None:
        log.warning("PGPASSWORD is ignored: libpq would send it instead of the password in %s",
                    url.split("passfile=", 1)[1].split("&")[0])
    made = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    with made.connect() as conn:
        check_search_path(conn)
    return made


# Who, besides the pipeline's own role (its members) and superusers, could put a function or
# operator where the pipeline's unqualified calls look (its search path), or already has. Run with
# the search path reduced to pg_catalog, so that a planted function cannot run inside the check.
UNTRUSTED_ON_SEARCH_PATH = r"""
    select pg_catalog.format('every role (PUBLIC) may create objects in schema %s', n.nspname)
    from pg_catalog.pg_namespace n
    where n.nspname = any(:path) and pg_catalog.has_schema_privilege('public', n.oid, 'CREATE')
    union all
    select pg_catalog.format('role %s may create objects in schema %s', r.rolname, n.nspname)
    from pg_catalog.pg_namespace n cross join pg_catalog.pg_roles r
    where n.nspname = any(:path) and not r.rolsuper and r.rolname !~~ 'pg\_%'
      and not pg_catalog.pg_has_role(r.oid, :owner, 'MEMBER') and r.rolname <> :me
      and pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
      and not pg_catalog.has_schema_privilege('public', n.oid, 'CREATE')
    union all
    select pg_catalog.format('function %s.%s(%s) is owned by role %s', n.nspname, p.proname,
                             pg_catalog.pg_get_function_identity_arguments(p.oid), r.rolname)
    from pg_catalog.pg_proc p join pg_catalog.pg_roles r on r.oid = p.proowner
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(:path) and not r.rolsuper and not pg_catalog.pg_has_role(r.oid, :owner, 'MEMBER')
      and r.rolname <> :me
    union all
    select pg_catalog.format('operator %s.%s is owned by role %s', n.nspname, o.oid::pg_catalog.regoperator,
                             r.rolname)
    from pg_catalog.pg_operator o join pg_catalog.pg_roles r on r.oid = o.oprowner
    join pg_catalog.pg_namespace n on n.oid = o.oprnamespace
    where n.nspname = any(:path) and not r.rolsuper and not pg_catalog.pg_has_role(r.oid, :owner, 'MEMBER')
      and r.rolname <> :me
    order by 1
"""
OWNER = "smarketing_owner"  # the role that owns the warehouse (sql/admin/bootstrap.sql)


class UntrustedSearchPath(ConfigError):
    """Another role could make the pipeline run its code: refuse to run (not retried)."""


def check_search_path(conn: Connection) -> None:
    """Refuse to run where a role other than the pipeline's own could plant a function or operator
    that an unqualified call of the pipeline would pick (``public`` on a cluster upgraded from
    PostgreSQL 14 or older lets everyone create there)."""
    with conn.begin():
        path, me, has_owner = conn.execute(text(
            "select pg_catalog.current_schemas(false), current_user,"
            " exists (select from pg_catalog.pg_roles where rolname = :owner)"), {"owner": OWNER}).one()
        conn.execute(text("select pg_catalog.set_config('search_path', 'pg_catalog', true)"))
        found = conn.execute(text(UNTRUSTED_ON_SEARCH_PATH),
                             {"path": path, "me": me, "owner": OWNER if has_owner else me}).scalars().all()
    if found:
        raise UntrustedSearchPath(
            f"the warehouse is not safe to run in: {'; '.join(found[:3])}"
            f"{f' (and {len(found) - 3} more)' if len(found) > 3 else ''}. Code placed there could run with the"
            " pipeline's rights; as an administrator run sql/admin/bootstrap.sql, which revokes that and names"
            " what to drop")


class LockTimeout(RuntimeError):
    """Another session held the lock longer than we wait; the message names it."""


LOCK_WAIT_SECONDS = 1800.0  # a merge of 100,000 persons takes two minutes; SMARKETING_LOCK_WAIT_SECONDS
LOCK_HOLDER = """
    select a.usename, a.pid, a.application_name, a.backend_start from pg_catalog.pg_locks l
    join pg_catalog.pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.objsubid = 1 and l.pid <> pg_catalog.pg_backend_pid()
      and ((l.classid::bigint << 32) | l.objid::bigint) = pg_catalog.hashtext(:key)::bigint
"""


def take_turn(conn: Connection, key: str, what: str, session: bool = False) -> None:
    """Take the advisory lock ``key`` (for the transaction, or the session when ``session``),
    waiting while another run holds it. Any login may take an advisory lock, so the wait is
    bounded: past ``SMARKETING_LOCK_WAIT_SECONDS`` the error names who holds it."""
    import os
    import time

    function = "pg_try_advisory_lock" if session else "pg_try_advisory_xact_lock"
    attempt = text(f"select pg_catalog.{function}(pg_catalog.hashtext(:key))")
    deadline = time.monotonic() + float(os.environ.get("SMARKETING_LOCK_WAIT_SECONDS", LOCK_WAIT_SECONDS))
    delay, said = 0.05, False
    while not conn.execute(attempt, {"key": key}).scalar():
        if not said:
            log.info("%s: another session holds its turn; waiting", what)
            said = True
        if time.monotonic() > deadline:
            holder = conn.execute(text(LOCK_HOLDER), {"key": key}).first()
            who = (f"user {holder.usename}, pid {holder.pid}"
                   + (f", application {holder.application_name!r}" if holder.application_name else "")
                   + (f", connected {holder.backend_start:%Y-%m-%d %H:%M}" if holder.backend_start else "")
                   if holder else "a session that has ended")
            raise LockTimeout(f"{what}: another session has held its lock too long ({who}); if it is not a run of"
                              f" the pipeline, end it (select pg_terminate_backend(pid)) and run again")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def password_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL keeps for ``password``, computed here, so that
    ``alter role ... password '<verifier>'`` never sends the password itself (a failed statement
    is written to the server log whole). PostgreSQL hashes a password after SASLprep; for one that
    SASLprep would change (rare non-ASCII spellings) the password is returned as it is."""
    import base64
    import hashlib
    import hmac
    import secrets
    import unicodedata

    if not password.isascii() and (unicodedata.normalize("NFKC", password) != password
                                   or any(unicodedata.category(c) in ("Zs", "Cf", "Cc") for c in password)):
        return password
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


def _migrations(folder: Path) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path} is not named V<version>__<name>.sql")
        found.append((int(match.group(1)), match.group(2), path))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations in {folder} share a version: {versions}")
    return found


def migrate(eng: Engine, folder: Path | None = None) -> list[str]:
    """Apply pending migrations in version order, each in its own transaction.

    Applied versions are recorded in ``meta.schema_migrations`` with a checksum; a changed
    file that was already applied is an error rather than a silent divergence.  Concurrent
    callers serialise on an advisory lock, so applying twice is a no-op.
    """
    folder = folder or PATHS.sql / "schema"
    applied_now: list[str] = []
    with eng.begin() as conn:
        take_turn(conn, "smarketing.migrate", "migrate")
        conn.execute(text("create schema if not exists meta"))
        conn.execute(
            text(
                "create table if not exists meta.schema_migrations ("
                " version integer primary key, name text not null, checksum text not null,"
                " applied_at timestamptz not null default now())"
            )
        )
        recorded = {row.version: row for row in conn.execute(text("select * from meta.schema_migrations"))}
        for version, name, path in _migrations(folder):
            body = path.read_text()
            checksum = hashlib.sha256(body.encode()).hexdigest()
            if version in recorded:
                if recorded[version].checksum != checksum:
                    raise MigrationError(
                        f"{path.name} changed after it was applied (version {version}); "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            run_script(conn, body)
            conn.execute(
                text("insert into meta.schema_migrations (version, name, checksum)"
                     " values (:version, :name, :checksum)"),
                {"version": version, "name": name, "checksum": checksum},
            )
            applied_now.append(path.name)
    return applied_now


def dbapi(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn`` (COPY, psycopg.sql composition, scripts with '%')."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the SQLAlchemy connection is closed")
    return driver


def run_script(conn: Connection, script: str) -> None:
    """Run several statements without parameters (no placeholder parsing: '%' is just a character)."""
    dbapi(conn).execute(script)


def raw_table(source: str, entity: str) -> str:
    """``raw.<source>__<entity>``, refusing names that are not plain lowercase identifiers."""
    for part in (source, entity):
        if not IDENTIFIER.match(part):
            raise ValueError(f"{part!r} is not a valid source or entity name (lowercase letters, digits, _)")
    return f"raw.{source}__{entity}"


# per sort, hash, stored CTE or bitmap of the merge's and suppression's transactions
# (SMARKETING_WORK_MEM overrides)
WORK_MEM = "256MB"


def use_work_mem(conn: Connection) -> None:
    """Keep this transaction's sorts, hashes, stored CTEs and bitmaps in memory up to ``WORK_MEM``
    each. Spilled to disk, the identity edges of 100,000 persons took minutes instead of seconds;
    a bitmap of email events grown lossy made scoped suppression check every row of a page against
    the whole scope (over 90 s instead of 5.9 s for 53,000 mailboxes at SCALE=10)."""
    conn.execute(text("select set_config('work_mem', :work_mem, true)"),
                 {"work_mem": os.environ.get("SMARKETING_WORK_MEM", WORK_MEM)})


def sql_path(relative: str) -> Path:
    return PATHS.sql / relative


def run_sql_file(conn: Connection, relative: str, params: Mapping[str, Any] | None = None) -> int:
    """Run one statement from ``sql/<relative>`` with bound parameters; return rows affected."""
    result = conn.execute(text(sql_path(relative).read_text()), dict(params or {}))
    return result.rowcount


def analyze_if_grown(conn: Connection, schema: str, table: str, changed_rows: int) -> None:
    """Refresh a table's statistics when a statement changed a tenth of it or more (or it was never
    analysed), so the statements after it in the same transaction plan with its real size: a
    freshly filled table still estimated at one row turned joins into nested loops, quadratic in
    the scale (make bench)."""
    from psycopg import sql

    size = conn.execute(text("select reltuples from pg_class where oid = to_regclass(:table)"),
                        {"table": f"{schema}.{table}"}).scalar()
    if changed_rows and (size is None or size < 0 or changed_rows * 10 > size):
        dbapi(conn).execute(sql.SQL("analyze {}").format(sql.Identifier(schema, table)))


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Bulk-load ``rows`` into ``table`` with COPY FROM STDIN (binary-safe, no row-by-row inserts)."""
    from psycopg import sql

    driver = dbapi(conn)
    schema, _, name = table.rpartition(".")
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    statement = sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(map(sql.Identifier, columns)))
    count = 0
    with driver.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def table_counts(conn: Connection, schemas: Sequence[str]) -> dict[str, int]:
    """Exact row counts of every table in ``schemas``, as ``schema.table -> rows``."""
    from psycopg import sql

    tables = conn.execute(
        text(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(:schemas) and table_type = 'BASE TABLE' order by 1, 2"
        ),
        {"schemas": list(schemas)},
    ).all()
    driver = dbapi(conn)
    counts = {}
    for schema, name in tables:
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))
        row = driver.execute(query).fetchone()
        counts[f"{schema}.{name}"] = row[0] if row else 0
    return counts


# Columns that differ between two runs on the same input: the wall-clock time (a default of now();
# and the suppression evidence of the reasons only the pipeline's clock dates: a person's opt-out
# flag, a merge, a missing address), and the Airflow run id.
_CHECKSUMMED_COLUMNS = """
    select table_schema || '.' || table_name, array_agg(column_name::text order by ordinal_position) filter (
        where not (coalesce(column_default, '') like '%now()%' or column_name = 'run_id'
                   or column_name like '%\\_run' or (table_schema = 'nurture' and column_name = 'evidence_at')))
    from information_schema.columns
    where table_schema = any(:schemas) and (table_schema, table_name) in (
        select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE')
    group by 1 order by 1"""


def checksums(conn: Connection, schemas: Sequence[str] = ("core", "marts", "nurture")) -> dict[str, tuple[int, str]]:
    """Per table of ``schemas``: its row count and the md5 of its rows in sorted text form, without
    the columns that hold the run's time or id, so that two runs on the same input agree (a
    refactor that changes no output keeps every line)."""
    from psycopg import sql

    columns = conn.execute(text(_CHECKSUMMED_COLUMNS), {"schemas": list(schemas)}).all()
    driver = dbapi(conn)
    found = {}
    for table, names in columns:
        query = sql.SQL("select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), ''))"
                        " from (select row({})::text as r from {}) as t").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in names or []), sql.Identifier(*table.split(".")))
        count, digest = driver.execute(query).fetchone() or (0, "")
        found[table] = (count, digest)
    return found
