"""Models: each SQL file under ``sql/core`` and ``sql/marts`` is one ``select`` with a header that
says what it is; one runner puts them in order and writes them.

The header is the file's leading comment block. Besides prose, it holds fields, one per line
(a field continues on the next comment line indented by two or more spaces)::

    -- grain: one row per month per channel
    -- key: month, channel
    -- write: replace

``grain``   what one row is (required for tables).
``key``     the columns that identify a row (required for replace, upsert and update).
``write``   how the select's rows reach the target:
            ``replace``  every row again (marts); the runner makes the table from the select's columns
                         (primary key ``key``) and rebuilds it when they change;
            ``upsert``   insert, or update the row with the same key when a column differs;
            ``scoped``   the rows ``scope`` selects become the select's: with a ``key``, only rows
                         that changed are written (the select's rows kept in a temporary table, the
                         scope's rows it no longer gives deleted, the rest upserted), so an unchanged
                         row keeps its version and no trigger hears of it; without one, the scope is
                         deleted, then the select inserted;
            ``update``   update the rows with the same key when a column differs (never inserts);
            ``temp``     a temporary table of this merge or refresh (indexed on ``key``, analysed);
            ``append``   insert into the target as it is.
``scope``   the ``where`` condition of the rows a scoped model deletes before it inserts.
``target``  the table written, when it is not ``<schema>.<file name>`` (``core.person``) or, for
            temporary tables, the file name.
``before``  models whose earlier output this one reads (it runs before them).

What a model reads is found in its SQL (every ``schema.table`` it names, the temporary tables
other models or steps make, the tables behind the views it reads), and a model runs after every
model and step that writes what it reads, so the order is derived, never kept by hand. The
insert's column list is the select's column names; an ``updated_at`` column is set on every
change. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from smarketing.config import PATHS, ConfigError
from smarketing.warehouse import analyze_if_grown

log = logging.getLogger(__name__)

# The statements below are composed from the files under sql/ (part of the code, reviewed like it);
# names from a header must be plain identifiers (parse), so a header cannot smuggle SQL in.
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

WRITES = ("replace", "upsert", "scoped", "update", "temp", "append")
FIELDS = ("grain", "key", "write", "scope", "target", "before")
SCHEMAS = ("raw", "staging", "core", "marts", "nurture", "meta")
_FIELD = re.compile(r"^--\s?([a-z_]+):\s*(.*)$")
_CONTINUED = re.compile(r"^--\s{2,}(\S.*)$")
_RELATION = re.compile(r"\b(" + "|".join(SCHEMAS) + r")\s*\.\s*([a-z_][a-z0-9_]*)\b(?!\s*\()")
# What is not code: string literals (also dollar-quoted), comments. "--" in a string is no comment,
# ';' in one no statement end.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$|--[^\n]*|/\*.*?\*/", re.S)
_QUOTED = re.compile(r'"([a-z_][a-z0-9_]*)"')


def code_of(sql: str) -> str:
    """The SQL without literals and comments, lowercase, simple quoted names unquoted: what
    finding relations and statement ends looks at."""
    return _QUOTED.sub(r"\1", _NOT_CODE.sub(" ", sql).lower())


class ModelError(ConfigError):
    """A model's header is wrong, or the models cannot be put in order."""


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    target: str
    write: str
    grain: str
    key: tuple[str, ...]
    scope: str | None
    before: tuple[str, ...]
    body: str

    @property
    def is_temp(self) -> bool:
        return "." not in self.target

    def relations(self) -> set[str]:
        """The schema-qualified relations the SQL names (its own target included), in any case or
        quoting."""
        code = code_of(self.body + "\n" + (self.scope or ""))
        return {f"{schema}.{name}" for schema, name in _RELATION.findall(code)}

    def words(self) -> set[str]:
        return set(re.findall(r"\b[a-z_][a-z0-9_]*\b", code_of(self.body + "\n" + (self.scope or ""))))


@dataclass(frozen=True)
class Step:
    """Work in Python between models (identity resolution): what it reads and writes is declared."""

    name: str
    run: Callable[[Connection, Mapping[str, Any]], Any]
    reads: frozenset[str]
    writes: frozenset[str]
    before: tuple[str, ...] = field(default=())


def parse(path: Path, schema: str) -> Model:
    """The model in ``path``; the header's mistakes are named with the file."""
    text_ = path.read_text()
    fields: dict[str, str] = {}
    last = None
    for line in text_.splitlines():
        if not line.startswith("--"):
            break
        found = _FIELD.match(line)
        if found and found.group(1) in FIELDS:
            last = found.group(1)
            if last in fields:
                raise ModelError(f"{path}: the field {last!r} is given twice")
            fields[last] = found.group(2).strip()
        elif found and found.group(1).islower():
            raise ModelError(f"{path}: unknown header field {found.group(1)!r} (known: {', '.join(FIELDS)})")
        elif last and _CONTINUED.match(line):
            fields[last] += " " + _CONTINUED.match(line).group(1).strip()  # type: ignore[union-attr]
        else:
            last = None
    write = fields.get("write")
    if write not in WRITES:
        raise ModelError(f"{path}: 'write: {write}' is not one of {', '.join(WRITES)}" if write else
                         f"{path}: no 'write:' field in the header (one of {', '.join(WRITES)})")
    target = fields.get("target") or (path.stem if write == "temp" else f"{schema}.{path.stem}")
    key = tuple(k.strip() for k in fields.get("key", "").split(",") if k.strip())
    if write in ("replace", "upsert", "update") and not key:
        raise ModelError(f"{path}: 'write: {write}' needs a 'key:' field")
    if write == "scoped" and not fields.get("scope"):
        raise ModelError(f"{path}: 'write: scoped' needs a 'scope:' field (the rows deleted before the insert)")
    if "." in target and not fields.get("grain"):
        raise ModelError(f"{path}: no 'grain:' field (what one row of {target} is)")
    if write != "scoped" and "scope" in fields:
        raise ModelError(f"{path}: 'scope:' only applies to 'write: scoped'")
    for name in (*target.split(".", 1), *key):
        if not IDENTIFIER.match(name):
            raise ModelError(f"{path}: {name!r} is not a plain lowercase identifier (target and key)")
    if "." in target and target.split(".")[0] != schema:
        raise ModelError(f"{path}: a model in sql/{schema}/ writes {schema}.*, not {target}")
    if write == "replace" and schema != "marts":
        raise ModelError(f"{path}: 'write: replace' (the runner makes and drops the table) is for marts only")
    if (write in ("temp", "append")) == ("." in target):
        raise ModelError(f"{path}: 'write: {write}' is for this merge's temporary tables (a target without schema),"
                         " every other write for a table of the model's schema")
    body = text_.rstrip().rstrip(";")
    if ";" in code_of(body):
        raise ModelError(f"{path}: one select per model (found a ';' outside strings and comments)")
    return Model(name=path.stem, path=path, target=target, write=write, grain=fields.get("grain", ""), key=key,
                 scope=fields.get("scope"), before=tuple(b.strip() for b in fields.get("before", "").split(",")
                                                         if b.strip()), body=body)


def load(folder: str) -> list[Model]:
    """The models of ``sql/<folder>`` (``core`` or ``marts``)."""
    return [parse(path, folder) for path in sorted((PATHS.sql / folder).glob("*.sql"))]


def view_sources(conn: Connection) -> dict[str, set[str]]:
    """The tables behind each view of the pipeline's schemas (transitively)."""
    direct: dict[str, set[str]] = {}
    for view, table in conn.exec_driver_sql(
            "select distinct v.view_schema || '.' || v.view_name, v.table_schema || '.' || v.table_name"
            " from information_schema.view_table_usage as v where v.view_schema in ('staging', 'core', 'marts',"
            " 'nurture')").all():
        direct.setdefault(view, set()).add(table)

    def expand(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name not in direct or name in seen:
            return {name}
        return set().union(*(expand(t, seen | {name}) for t in direct[name]))
    return {view: expand(view) for view in direct}


def order(nodes: Iterable[Model | Step], views: Mapping[str, set[str]] | None = None) -> list[Model | Step]:
    """Every node after the nodes that write what it reads (a model's ``before`` excepted); ties keep
    the given order. A cycle is named."""
    nodes = list(nodes)
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ModelError(f"two models or steps have one name: {sorted(n for n in names if names.count(n) > 1)}")
    views = views or {}
    writers: dict[str, list[str]] = {}
    temps: set[str] = set()
    for n in nodes:
        for target in ([n.target] if isinstance(n, Model) else sorted(n.writes)):
            writers.setdefault(target, []).append(n.name)
            if "." not in target:
                temps.add(target)
    creators = {n.target: n.name for n in nodes if isinstance(n, Model) and n.write == "temp"}
    after: dict[str, set[str]] = {n.name: set() for n in nodes}
    for n in nodes:
        for other in n.before:
            if other not in after:
                raise ModelError(f"{n.name}: 'before: {other}' names no model or step")
            after[other].add(n.name)
        if isinstance(n, Model):
            reads = set().union(*(views.get(r, {r}) for r in n.relations())) | (n.words() & temps)
            reads.discard(n.target)
            if n.target in creators and creators[n.target] != n.name:
                after[n.name].add(creators[n.target])  # a temp table is made before it is added to
        else:
            reads = set(n.reads)
        for table in reads:
            after[n.name].update(w for w in writers.get(table, ()) if w != n.name and w not in n.before)
    done: list[Model | Step] = []
    placed: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = next((n for n in pending if after[n.name] <= placed), None)
        if ready is None:
            raise ModelError("the models depend on each other in a circle: "
                             + "; ".join(f"{n.name} waits for {', '.join(sorted(after[n.name] - placed))}"
                                         for n in pending))
        pending.remove(ready)
        done.append(ready)
        placed.add(ready.name)
    return done


def columns(conn: Connection, model: Model, params: Mapping[str, Any]) -> list[str]:
    """The select's column names, in order (the statement is planned, not run)."""
    result = conn.execute(text(f"select * from ({model.body}\n) as model limit 0"), dict(params))  # noqa: S608
    names = [str(c[0]) for c in result.cursor.description or ()]
    result.close()
    if len(set(names)) != len(names) or "?column?" in names:
        raise ModelError(f"{model.path}: every column of the select needs its own name (got {', '.join(names)})")
    return names


def _table_columns(conn: Connection, table: str) -> dict[str, str]:
    """Column -> type (format_type) of an existing table; empty when it does not exist."""
    return dict(conn.execute(text(
        "select a.attname::text, format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute as a"
        " where a.attrelid = to_regclass(:table) and a.attnum > 0 and not a.attisdropped order by a.attnum"),
        {"table": table}).all())


def _primary_key(conn: Connection, table: str) -> tuple[str, ...]:
    return tuple(conn.execute(text(
        "select a.attname::text from pg_catalog.pg_index as i"
        " join lateral unnest(i.indkey) with ordinality as k (attnum, n) on true"
        " join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum"
        " where i.indrelid = to_regclass(:table) and i.indisprimary order by k.n"), {"table": table}).scalars())


def _ensure_table(conn: Connection, model: Model, params: Mapping[str, Any]) -> None:
    """Make a replaced model's table from its select (primary key ``key``), and again when the
    select's columns, their types or the key changed."""
    existing = _table_columns(conn, model.target)
    conn.execute(text(f"create temporary table model_shape on commit drop as select * from ({model.body}\n)"  # noqa: S608
                      " as model limit 0"), dict(params))
    wanted = _table_columns(conn, "pg_temp.model_shape")
    conn.exec_driver_sql("drop table model_shape")
    if existing == wanted and _primary_key(conn, model.target) == model.key:
        return
    if existing:
        # a warning when readers lose rows for the moment; a table still empty (a new install) is no news
        filled = conn.exec_driver_sql(f"select exists (select from {model.target})").scalar()  # noqa: S608
        log.log(logging.WARNING if filled else logging.INFO,
                "%s: its select or key changed (columns %s, key %s; the table has %s, key %s): the table is"
                " made again", model.target, _shape(wanted), ", ".join(model.key), _shape(existing),
                ", ".join(_primary_key(conn, model.target)))
        conn.exec_driver_sql(f"drop table {model.target}")
    conn.execute(text(f"create table {model.target} as select * from ({model.body}\n) as model with no data"),  # noqa: S608
                 dict(params))
    conn.exec_driver_sql(f"alter table {model.target} add primary key ({', '.join(model.key)})")


def _shape(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns.items())


def _changed(left: str, right: str, cols: list[str]) -> str:
    return (f"({', '.join(f'{left}.{c}' for c in cols)}) is distinct from ({', '.join(f'{right}.{c}' for c in cols)})"
            if len(cols) > 1 else f"{left}.{cols[0]} is distinct from {right}.{cols[0]}")


def upsert_clause(target: str, key: Sequence[str], names: Sequence[str], stamped: bool = False) -> str:
    """``on conflict`` for an insert of ``names`` into ``target``: the row with the same ``key`` is
    updated only when a column differs (``updated_at`` set then, when ``stamped``)."""
    rest = [c for c in names if c not in key]
    if not rest:  # a key given twice is one row
        return f"\non conflict ({', '.join(key)}) do nothing"
    sets = [f"{c} = excluded.{c}" for c in rest] + (["updated_at = now()"] if stamped else [])
    return (f"\non conflict ({', '.join(key)}) do update set {', '.join(sets)}"
            f" where {_changed(target, 'excluded', rest)}")


def _upsert_clause(model: Model, names: list[str], stamped: bool, first_load: bool = False) -> str:
    if first_load and any(c not in model.key for c in names):
        return ""  # twice as fast as a speculative insert per row (615,000 email events: 1.6 s against 3.0 s)
    return upsert_clause(model.target, model.key, names, stamped)


def write(conn: Connection, model: Model, params: Mapping[str, Any]) -> int:
    """Write one model as its header says; return the rows written."""
    names = columns(conn, model, params)
    missing = [k for k in model.key if k not in names]
    if missing:
        raise ModelError(f"{model.path}: the key {', '.join(missing)} is not a column of the select"
                         f" ({', '.join(names)})")
    if model.is_temp and model.write == "temp":
        rows = conn.execute(text(f"create temporary table {model.target} on commit drop as\n{model.body}"),
                            dict(params)).rowcount
        if model.key:
            conn.exec_driver_sql(f"create index on {model.target} ({', '.join(model.key)})")
        conn.exec_driver_sql(f"analyze {model.target}")
        return rows
    existing = _table_columns(conn, model.target) if model.write != "replace" else {}
    unknown = [c for c in names if existing and c not in existing]
    if unknown:
        raise ModelError(f"{model.path}: {model.target} has no column {', '.join(unknown)} (the select's columns"
                         f" are written to the target's columns of the same name)")
    stamped = "updated_at" in existing and "updated_at" not in names
    column_list = ", ".join(names)
    # empty before a scoped delete could empty it (a first load): only then without its indexes, and
    # without ``on conflict`` (nothing to conflict with; a key the select gives twice still fails)
    first_load = model.write in ("upsert", "scoped") and not model.is_temp and _is_empty(conn, model.target)
    rebuild = bulk_load(conn, model.target) if first_load else []
    body = model.body
    if model.write == "update":
        rest = [c for c in names if c not in model.key]
        sets = [f"{c} = model.{c}" for c in rest] + (["updated_at = now()"] if stamped else [])
        statement = (f"update {model.target} as target set {', '.join(sets)} from ({model.body}\n) as model"  # noqa: S608
                     f" where {' and '.join(f'target.{k} = model.{k}' for k in model.key)}"
                     f" and {_changed('target', 'model', rest)}")
    else:
        if model.write == "replace":
            _ensure_table(conn, model, params)
            conn.exec_driver_sql(f"delete from {model.target}")  # noqa: S608
        if model.write == "scoped" and model.key and not first_load:
            body = _scoped_rows(conn, model, params)
        elif model.write == "scoped":
            conn.execute(text(f"delete from {model.target} where {model.scope}"), dict(params))  # noqa: S608
        statement = f"insert into {model.target} ({column_list})\n{body}"
        if model.write == "upsert" or (model.write == "scoped" and model.key):
            statement += _upsert_clause(model, names, stamped, first_load)
    rows = conn.execute(text(statement), dict(params)).rowcount
    if body != model.body:
        conn.exec_driver_sql("drop table scoped_rows")
    for make in rebuild:
        conn.exec_driver_sql(make)
    if not model.is_temp:  # the models after it plan with its new size and values (an update counts too)
        schema, _, table = model.target.partition(".")
        analyze_if_grown(conn, schema, table, rows)
    return rows


def _scoped_rows(conn: Connection, model: Model, params: Mapping[str, Any]) -> str:
    """A keyed scoped model's select into ``scoped_rows``; the rows of its scope whose key the select
    no longer gives are deleted. Returns the select of what to upsert."""
    conn.execute(text(f"create temporary table scoped_rows on commit drop as\n{model.body}"), dict(params))
    conn.exec_driver_sql("analyze scoped_rows")
    table = model.target.rpartition(".")[2]  # the scope names the target by its table name
    same = " and ".join(f"kept.{k} = {table}.{k}" for k in model.key)
    conn.execute(text(f"delete from {model.target} where ({model.scope})"  # noqa: S608 - header fields, parsed
                      f" and not exists (select from scoped_rows as kept where {same})"), dict(params))
    return "select * from scoped_rows"


def _is_empty(conn: Connection, table: str) -> bool:
    return not conn.exec_driver_sql(f"select exists (select from {table})").scalar()  # noqa: S608


@contextmanager
def loading(conn: Connection, table: str) -> Iterator[bool]:
    """Around the statements that fill ``table``: yields whether it is empty (a first load), and
    then loads it without its secondary indexes and foreign keys (``bulk_load``), made again when
    the block ends. An exception leaves them dropped in the transaction it rolls back."""
    empty = _is_empty(conn, table)
    rebuild = bulk_load(conn, table) if empty else []
    yield empty
    for make in rebuild:
        conn.exec_driver_sql(make)


def bulk_load(conn: Connection, table: str) -> list[str]:
    """Into an empty table (a first load), rows go faster without the indexes and foreign keys that
    no ``on conflict`` needs: drop them and return the statements that make them again after the
    insert (an index built once, a foreign key checked by one join instead of a lookup per row).
    The table stays locked to readers until the merge commits; it was empty for them anyway."""
    found = conn.execute(text(
        "select 'alter table ' || cast(c.conrelid::regclass as text) || ' drop constraint ' || quote_ident(c.conname),"
        " 'alter table ' || cast(c.conrelid::regclass as text) || ' add constraint ' || quote_ident(c.conname) || ' '"
        "  || pg_get_constraintdef(c.oid)"
        " from pg_catalog.pg_constraint as c where c.conrelid = to_regclass(:table) and c.contype = 'f'"
        " union all"
        " select 'drop index ' || cast(i.indexrelid::regclass as text), pg_get_indexdef(i.indexrelid)"
        " from pg_catalog.pg_index as i where i.indrelid = to_regclass(:table) and not i.indisunique"
        " and not exists (select from pg_catalog.pg_constraint as c where c.conindid = i.indexrelid)"),
        {"table": table}).all()
    for drop, _ in found:
        conn.exec_driver_sql(drop)
    return [make for _, make in found]


def run(conn: Connection, nodes: Iterable[Model | Step], params: Mapping[str, Any]) -> dict[str, Any]:
    """Run every model and step in order in the caller's transaction; what each wrote, by name."""
    done: dict[str, Any] = {}
    for node in order(nodes, view_sources(conn)):
        started = time.perf_counter()
        if isinstance(node, Step):
            done[node.name] = node.run(conn, params)
            log.info("%s: done in %.1f s", node.name, time.perf_counter() - started)  # an operator's progress line
            continue
        try:
            done[node.name] = write(conn, node, params)
            log.info("%s: %d rows in %.1f s", node.name, done[node.name], time.perf_counter() - started)
        except DBAPIError as exc:
            # the model's SQL is wrong for this warehouse (syntax, a missing table or column, a value
            # its table refuses): named with its file, and not retried (a retry cannot cure it)
            if isinstance(exc.orig, psycopg.errors.ProgrammingError | psycopg.errors.IntegrityError
                          | psycopg.errors.DataError):
                raise ModelError(f"{node.path}: {str(exc.orig).strip()}") from exc
            raise
    return done
