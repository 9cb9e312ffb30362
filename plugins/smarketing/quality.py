"""Data quality: Great Expectations suites run in the warehouse over newly landed batches.

Convention, so adding a check needs no code: a raw entity ``raw.<source>__<entity>`` is
validated when a suite ``expectations/gx/expectations/<source>__<entity>.json`` exists; the rows
it sees are ``sql/quality/<source>__<entity>.sql`` (for a file-drop entity, by default every
column) over staging's typed projection of the batch's raw rows (``typed_rows``: the payload is
cast in one place, the staging view the merge reads), materialised once per check in the
warehouse (a GX table asset in schema ``quality_work``, so nothing is pulled into pandas),
selecting ``record_id``, ``version_at`` and ``batch_id`` plus the checked columns. Reference
values (pipeline stages, currencies, ...) come from ``config/quality.yaml`` as suite parameters.

Each expectation carries a severity. Rows failing a ``critical`` one move to
``quarantine.records`` with the reason and the others go on; ``warning`` failures are recorded
only. When more than ``max_failure_share`` of a suite's rows fail, that suite's batches stay
unvalidated (nothing of them reaches core) and the task fails naming the suite and its failing
checks, after the other suites have run. Every check's outcome lands in ``meta.dq_results``, and
Data Docs are rebuilt in ``expectations/gx/uncommitted/data_docs/local_site/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from smarketing.config import PATHS, ConfigError
from smarketing.warehouse import raw_table

log = logging.getLogger(__name__)
# Great Expectations' INFO lines (247 of a 263-line validate log, from its import on) tell an
# operator nothing; its warnings still show
logging.getLogger("great_expectations").setLevel(logging.WARNING)

ROW_KEYS = ["record_id", "version_at"]
WORK_SCHEMA = "quality_work"


class DataQualityError(RuntimeError):
    """A suite failed beyond its allowed share, or could not be evaluated; its batches were not promoted.
    ``outcomes`` holds the suites that passed in the same validation."""

    def __init__(self, message: str, outcomes: list[SuiteOutcome] | None = None) -> None:
        super().__init__(message)
        self.outcomes = outcomes or []


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    quarantined: int
    failures: list[str] = field(default_factory=list)  # "check [severity]: n unexpected"
    seconds: float = 0.0  # checking it took, Great Expectations' work included
    process: int = 0  # the id of the process that checked it (config/quality.yaml processes)


def suite_dir() -> Path:
    return PATHS.expectations / "gx" / "expectations"


def data_docs_dir() -> Path:
    return PATHS.data_docs


def quality_settings(path: Path | None = None) -> dict[str, Any]:
    """``config/quality.yaml``, validated (``smarketing.settings.QualitySettings``)."""
    from smarketing import settings

    return settings.load("quality", path=path)


def suite_parameters(settings: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The values suites refer to with ``{"$PARAMETER": name}``."""
    params = dict(settings["parameters"])
    skew = timedelta(minutes=params.pop("clock_skew_minutes"))
    years = params.pop("close_date_years_ahead")
    params["latest_plausible_at"] = (now + skew).isoformat()
    params["latest_close_date"] = date(now.year + years, now.month, min(now.day, 28)).isoformat()
    params["earliest_close_date"] = params["earliest_close_date"].isoformat()
    return params


def failure_share(settings: dict[str, Any], suite: str) -> float:
    """The share of failing rows a suite may have: its own ``suites.<suite>.max_failure_share``,
    else the file's ``max_failure_share``."""
    own = settings["suites"].get(suite)
    return own["max_failure_share"] if own else settings["max_failure_share"]


def _pending_batches(eng: Engine, source: str, entity: str) -> list[list[str]]:
    """The batches validation has yet to pass, in groups judged apart: those it held back before
    (``held_at``), then the new ones. Judged together, the new ones' clean rows would dilute a held
    batch's failure share until its rows reached core as they were."""
    with eng.connect() as conn:
        rows = conn.execute(
            text("select batch_id, held_at is not null as held from meta.batches where source = :source"
                 " and entity = :entity and validated_at is null and superseded_at is null order by landed_at"),
            {"source": source, "entity": entity},
        ).all()
    groups = [[str(r.batch_id) for r in rows if r.held], [str(r.batch_id) for r in rows if not r.held]]
    return [group for group in groups if group]


def _hold(eng: Engine, batch_ids: list[str]) -> None:
    with eng.begin() as conn:
        conn.execute(text("update meta.batches set held_at = coalesce(held_at, now())"
                          " where batch_id = any(cast(:ids as uuid[]))"), {"ids": batch_ids})


def _mark_validated(conn: Any, batch_ids: list[str], run_id: str, table: str, checked: dict[str, int] | None = None,
                    ) -> None:
    """Mark the batches validated, with the rows each had when checked (``checked``; counted now
    for an entity without a suite): promotion sends a batch that has more back to validation."""
    counts = checked if checked is not None else dict(conn.execute(text(
        f"select cast(batch_id as text), count(*) from {table} where batch_id = any(cast(:ids as uuid[]))"  # noqa: S608
        " group by batch_id"), {"ids": batch_ids}).all())
    conn.execute(
        text("update meta.batches set validated_at = now(), validation_run_id = :run_id,"
             " rows_checked = coalesce(cast(cast(:counts as jsonb) ->> cast(batch_id as text) as integer), 0)"
             " where batch_id = any(cast(:ids as uuid[]))"),
        {"run_id": run_id, "ids": batch_ids, "counts": json.dumps(counts)},
    )


def _gx_context() -> Any:
    import great_expectations as gx

    for name in list(logging.root.manager.loggerDict):  # some of its modules set their own level
        if name.startswith("great_expectations."):
            logging.getLogger(name).setLevel(logging.NOTSET)
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs = data_docs_dir()
    docs.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(site_name="smarketing", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    return context


@dataclass
class _Suite:
    """One suite's pending work: its groups of batches, judged apart, and their rows."""
    source: str
    entity: str
    suite_file: Path
    groups: list[list[str]]
    rows: int


# What a group of batches costs besides its rows, in rows: Great Expectations' own work per
# checkpoint (about 0.25 s, the time of some 25,000 rows), which dominates an incremental run
GROUP_COST_ROWS = 25_000


def _shares(suites: list[_Suite], processes: int) -> list[list[_Suite]]:
    """The suites dealt to at most ``processes`` processes, the costliest first to the least loaded."""
    shares: list[list[_Suite]] = [[] for _ in range(max(1, min(processes, len(suites))))]
    loads = [0] * len(shares)
    for suite in sorted(suites, key=lambda s: -(s.rows + GROUP_COST_ROWS * len(s.groups))):
        least = loads.index(min(loads))
        shares[least].append(suite)
        loads[least] += suite.rows + GROUP_COST_ROWS * len(suite.groups)
    return shares


def validate_pending(eng: Engine, url: str, run_id: str, entities: list[tuple[str, str]],
                     max_failure_share: float | None = None, run_name: str | None = None) -> list[SuiteOutcome]:
    """Validate every landed, not yet validated batch of ``entities`` ((source, entity) pairs).

    The suites run in up to ``processes`` processes (config/quality.yaml): this one and children
    forked from it, each with a Great Expectations context of its own (GX keeps its current context
    in a global, so two in one process would cross). ``max_failure_share`` overrides
    config/quality.yaml for every suite (tests, manual runs); ``run_name`` names the run in the
    Data Docs (default ``run_id``).
    """
    settings = quality_settings()
    params = suite_parameters(settings, datetime.now(UTC))
    suites = []
    for source, entity in entities:
        name = f"{source}__{entity}"
        suite_file = suite_dir() / f"{name}.json"
        groups = _pending_batches(eng, source, entity)
        if not groups:
            continue
        if not suite_file.exists():
            with eng.begin() as conn:
                for batch_ids in groups:
                    _mark_validated(conn, batch_ids, run_id, raw_table(source, entity))
            continue
        with eng.begin() as conn:  # this run's results again, when the run is run again
            conn.execute(text("delete from meta.dq_results where run_id = :run_id and suite = :suite"),
                         {"run_id": run_id, "suite": name})
            rows = conn.execute(text("select coalesce(sum(rows_received), 0) from meta.batches"
                                     " where batch_id = any(cast(:ids as uuid[]))"),
                                {"ids": [b for g in groups for b in g]}).scalar_one()
        suites.append(_Suite(source, entity, suite_file, groups, int(rows)))
    if not suites:
        return []

    def check(share: list[_Suite]) -> tuple[list[SuiteOutcome], list[str], list[str], Any]:
        outcomes, errors, broken, context = [], [], [], _gx_context()
        for suite in share:
            name = f"{suite.source}__{suite.entity}"
            allowed = max_failure_share if max_failure_share is not None else failure_share(settings, name)
            for batch_ids in suite.groups:
                started = time.perf_counter()
                try:
                    outcome = _validate(eng, context, url, run_id, suite.source, suite.entity, suite.suite_file,
                                        batch_ids, allowed, params, run_name or run_id)
                    outcome.seconds, outcome.process = round(time.perf_counter() - started, 3), os.getpid()
                    outcomes.append(outcome)
                except DataQualityError as exc:
                    _hold(eng, batch_ids)
                    errors.append(str(exc))
                except _broken_suite_errors() as exc:  # the suite itself is broken: the others go on
                    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:300]
                    files = [str(suite.suite_file.relative_to(PATHS.root))] + (
                        [str(projection_file(name).relative_to(PATHS.root))] if projection_file(name).exists() else [])
                    broken.append(f"suite {name} ({', '.join(files)}): {type(exc).__name__}: {detail}")
                    break
        _without_values(context)
        return outcomes, errors, broken, context

    first, *others = _shares(suites, settings["processes"])
    import great_expectations  # noqa: F401 - imported once (3 to 4 s), before the children are forked from here

    children = [_fork(check, share, eng) for share in others]
    try:
        outcomes, errors, broken, context = check(first)
    finally:  # the children finish their suites whatever happened here; none is left running
        returned = [_collect(child) for child in children]
    store, failed = context.validation_results_store, []
    for child, share, (child_outcomes, child_errors, child_broken, results, failure) in zip(
            children, others, returned, strict=True):
        outcomes += child_outcomes
        errors += child_errors
        broken += child_broken
        for key, value in results:  # the Data Docs show every suite's results and expectations
            store.set(store.tuple_to_key(key), store.deserialize(value))
        for suite in share:  # a suite its child could not read is named by the child's error
            with contextlib.suppress(*_broken_suite_errors()):
                _add_suite(context, suite.suite_file)
        if failure:
            failed.append(f"validation of {', '.join(child.suites)} failed in its process (exit code"
                          f" {child.process.exitcode}): {failure}")
    order = {f"{s}__{e}": i for i, (s, e) in enumerate(entities)}
    outcomes.sort(key=lambda o: order.get(o.suite, len(order)))
    log.info("validated %d suites in %d processes: %s", len(suites), 1 + len(children),
             "; ".join(f"{o.suite} {o.rows} rows {o.seconds:.1f} s (process {o.process})" for o in outcomes))
    # once for all suites: a build per suite compiled the page templates each time
    from smarketing import data_docs

    with data_docs.earlier_runs_kept(data_docs_dir()) as written:  # GX deletes the pages of other runs
        context.build_data_docs(site_names=["smarketing"])
    data_docs.finish(data_docs_dir(), eng, settings["data_docs_runs_kept"], written)
    if failed:
        raise RuntimeError("; ".join(failed) + "; the batches of its suites not marked validated stay pending"
                           " for the next run")
    if broken:  # after every other suite ran and was recorded, whatever process checked it
        raise ConfigError("validation could not run " + "; ".join(broken) + ". Their batches stay pending;"
                          " fix the files and run again" + (f". Held back as well: {' | '.join(errors)}"
                                                            if errors else ""))
    if errors:
        raise DataQualityError(" | ".join(errors), outcomes)
    return outcomes


def _broken_suite_errors() -> tuple[type[Exception], ...]:
    """What a suite that cannot run raises (its JSON, its sql/quality file), which no retry cures."""
    from great_expectations.exceptions import GreatExpectationsError
    from sqlalchemy.exc import DataError, ProgrammingError

    return ValueError, TypeError, KeyError, ConfigError, ProgrammingError, DataError, GreatExpectationsError


@dataclass
class _Child:
    suites: list[str]
    process: Any
    pipe: Any


class _Collected(logging.Handler):
    """A forked child's log records, kept to be logged by its parent: the two writing one task log
    (Airflow's log channel) at once could interleave their lines."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _fork(check: Any, share: list[_Suite], eng: Engine) -> _Child:
    import multiprocessing

    fork = multiprocessing.get_context("fork")  # GX and the suites already imported, nothing to pickle
    receive, send = fork.Pipe(duplex=False)

    def run() -> None:
        eng.dispose(close=False)  # the parent's pooled connections stay the parent's
        collected = _Collected()
        logging.root.handlers[:] = [collected]
        try:
            outcomes, errors, broken, context = check(share)
            store = context.validation_results_store
            results = [(store.key_to_tuple(key), store.serialize(store.get(key))) for key in store.list_keys()]
            send.send(("done", outcomes, errors, broken, results, collected.records))
        except BaseException as exc:  # noqa: BLE001 - reported by the parent, with the suites it covered
            send.send(("failed", f"{type(exc).__name__}: {exc}", collected.records))

    process = fork.Process(target=run, name="smarketing-validate", daemon=True)
    process.start()
    send.close()
    return _Child([f"{s.source}__{s.entity}" for s in share], process, receive)


def _collect(child: _Child) -> tuple[list[SuiteOutcome], list[str], list[str], list[tuple[Any, Any]], str | None]:
    """A child's outcomes, held and broken suites' errors, stored results, and why it failed (None if it did not)."""
    try:
        message = child.pipe.recv()
    except EOFError:
        message = ("failed", "it ended without a result", [])
    child.process.join()
    for name, level, line in message[-1]:
        logging.getLogger(name).log(level, "%s", line)
    if message[0] != "done":
        return [], [], [], [], message[1]
    return message[1], message[2], message[3], message[4], None


# What a validation result holds of the checked values themselves (emails, names, amounts).
VALUE_KEYS = ("partial_unexpected_list", "unexpected_list", "partial_unexpected_counts",
              "partial_unexpected_index_list", "unexpected_index_query")


def _without_values(context: Any) -> None:
    """Strip the failing values from the stored results before Data Docs render them: the site
    lives outside the warehouse, so it shows which rows failed (record id, version), never what
    they held. Quarantine has read the full results already."""
    store = context.validation_results_store
    for key in store.list_keys():
        stored = store.get(key)
        for outcome in stored.results:
            result = outcome.result or {}
            for name in VALUE_KEYS:
                result.pop(name, None)
            if "unexpected_index_list" in result:
                result["unexpected_index_list"] = [{k: row[k] for k in ROW_KEYS if k in row}
                                                   for row in result["unexpected_index_list"] or []]
        store.set(key, stored)


def _datasource(context: Any, url: str) -> Any:
    """The warehouse as a GX data source, one per context (each carries its own engine)."""
    name = "warehouse"
    if name not in [d.name for d in context.data_sources.all().values()]:
        return context.data_sources.add_postgres(name=name, connection_string=url)
    return context.data_sources.get(name)


def _add_suite(context: Any, suite_file: Path) -> Any:
    import great_expectations as gx

    return context.suites.add_or_update(gx.ExpectationSuite(**json.loads(suite_file.read_text())))


def _run_checkpoint(eng: Engine, context: Any, url: str, name: str, suite_file: Path, batch_ids: list[str],
                    params: dict[str, Any], run_name: str) -> tuple[Any, dict[str, int]]:
    """The suite's result over the batches' rows, and each batch's rows as the check saw them."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    suite = _add_suite(context, suite_file)
    ids = ", ".join(f"'{uuid.UUID(b)}'" for b in batch_ids)  # our own UUIDs, re-parsed: safe to inline
    key = uuid.uuid4().hex[:8]
    raw_table(*name.split("__", 1))  # refuses anything but plain identifiers
    table = f"{name}_{key}"
    # parse the payloads once, not once per expectation (see V015); the batches' rows counted in
    # the same snapshot, as validation saw them
    with eng.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        select = projection(name, ids)
        rows = conn.exec_driver_sql(f"create unlogged table {WORK_SCHEMA}.{table} as {select}").rowcount
        checked: dict[str, int] = dict(conn.exec_driver_sql(
            f"select cast(batch_id as text), count(*) from raw.{name} where batch_id in ({ids})"  # noqa: S608
            " group by batch_id").all())
    datasource = _datasource(context, url)
    asset = datasource.add_table_asset(name=table, table_name=table, schema_name=WORK_SCHEMA)
    batch_definition = asset.add_batch_definition_whole_table("new")
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_{key}", data=batch_definition, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"{name}_{key}", validation_definitions=[definition],
        # every failing row, not GX's first 20 (partial_unexpected_count): each is quarantined and
        # counts towards the suite's failure share
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ROW_KEYS,
                       "return_unexpected_index_query": False, "partial_unexpected_count": max(rows, 1)},
    ))
    try:
        # named after the run, not GX's __none__, so the Data Docs list each run by its name
        result = checkpoint.run(expectation_parameters=params,
                                run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)))
    finally:
        context.checkpoints.delete(checkpoint.name)
        context.validation_definitions.delete(definition.name)
        datasource.delete_asset(asset.name)
        with eng.begin() as conn:
            conn.exec_driver_sql(f"drop table if exists {WORK_SCHEMA}.{table}")
    return next(iter(result.run_results.values())), checked


def typed_rows(name: str, ids: str) -> str:
    """Staging's typed projection of ``raw.<name>`` (the ``sql/staging/stg_*.sql`` that reads
    ``staging.latest_<name>``) over the rows of the batches ``ids`` instead of the latest versions;
    any other landing table it reads gives no rows. Validation checks what the merge will read."""
    from smarketing.transform import staging_views

    for view, sql in staging_views():
        if view.startswith("stg_") and re.search(rf"\bstaging\.latest_{name}\b", sql):
            query = re.sub(r"(?s)\A.*?create or replace view [\w.]+ as\s*", "", sql, count=1)  # from its select
            rows = f"(select * from raw.{name} where batch_id in ({ids}))"  # noqa: S608 - checked names, our UUIDs
            query = re.sub(rf"\bstaging\.latest_{name}\b", rows, query)
            return re.sub(r"\bstaging\.latest_(\w+)\b", r"(select * from raw.\1 where false)", query)
    raise ConfigError(f"no staging projection reads raw.{name}: no sql/staging/stg_*.sql reads"
                      f" staging.latest_{name}")


# A file-drop entity's staging view has one column per catalog field: its suite checks them as they
# are, except on deletions (a record missing from a snapshot must reach core whatever it held).
FILE_PROJECTION = "select typed.* from {typed} as typed where not typed.is_deleted"


def projection_file(name: str) -> Path:
    """``sql/quality/<name>.sql``: what the suite of ``name`` reads, if the entity has one."""
    return PATHS.sql / "quality" / f"{name}.sql"


def projection(name: str, ids: str) -> str:
    """What the suite of ``name`` checks: ``sql/quality/<name>.sql`` over the typed rows (``{typed}``);
    for a file-drop entity without such a file, its typed rows (``FILE_PROJECTION``)."""
    path = projection_file(name)
    template = path.read_text().strip().rstrip(";") if path.exists() or not name.startswith("file__") \
        else FILE_PROJECTION
    return template.replace("{typed}", f"(\n{typed_rows(name, ids)}\n)")


def raised(exception_info: dict[str, Any] | None) -> str | None:
    """The error message of a check Great Expectations could not evaluate, else None. The error is
    the result's own or, when a metric failed, under that metric's id: such a check reports no
    failing row, so it quarantined nothing and its batch passed (a close date in year 10000)."""
    found = [exception_info or {}] + [v for v in (exception_info or {}).values() if isinstance(v, dict)]
    return next((str(info.get("exception_message") or "raised an exception") for info in found
                 if info.get("raised_exception")), None)


def _validate(eng: Engine, context: Any, url: str, run_id: str, source: str, entity: str, suite_file: Path,
              batch_ids: list[str], max_failure_share: float, params: dict[str, Any],
              run_name: str | None = None) -> SuiteOutcome:
    name = f"{source}__{entity}"
    result, checked = _run_checkpoint(eng, context, url, name, suite_file, batch_ids, params,
                                      run_name or run_id)

    dq_rows, bad_rows, failures, broken = [], [], [], []
    element_count = 0
    for res in result.results:
        cfg = res.expectation_config
        column = cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list") or [])
        check = (cfg.meta or {}).get("check") or f"{cfg.type}({column})"
        severity = str(getattr(cfg.severity, "value", cfg.severity) or "critical")
        error = raised(res.exception_info)
        if error is not None:
            broken.append(f"{check}: {error[:200]}")
            continue
        r = res.result or {}
        element_count = max(element_count, r.get("element_count") or 0)
        failing = r.get("unexpected_index_list") or []
        quarantines = severity == "critical" and not res.success
        dq_rows.append({
            "run_id": run_id, "suite": name, "check_name": check, "expectation": cfg.type, "column_name": column,
            "severity": severity, "success": bool(res.success), "element_count": r.get("element_count"),
            "unexpected_count": r.get("unexpected_count"), "unexpected_percent": r.get("unexpected_percent"),
            "rows_quarantined": len({(row["record_id"], row["version_at"]) for row in failing}) if quarantines else 0,
        })
        if res.success:
            continue
        failures.append(f"{check} [{severity}]: {r.get('unexpected_count')} unexpected")
        if not quarantines:
            continue
        for row in failing:
            value = row.get(cfg.kwargs.get("column")) if cfg.kwargs.get("column") else None
            reason = f"{check} failed ({cfg.type} on {column})" + (f": {value!r}" if cfg.kwargs.get("column") else "")
            bad_rows.append({
                "source": source, "entity": entity, "record_id": row["record_id"], "version_at": row["version_at"],
                "suite": name, "expectation": check, "column_name": column, "reason": reason, "run_id": run_id,
            })
    if broken:
        raise DataQualityError(f"suite {name}: checks could not be evaluated, nothing of these batches was "
                               f"promoted: {'; '.join(broken)}")

    bad_keys = {(b["record_id"], b["version_at"]) for b in bad_rows}
    share = len(bad_keys) / element_count if element_count else 0.0
    if share > max_failure_share:  # held, not quarantined: nothing of the batches moves
        for row in dq_rows:
            row["rows_quarantined"] = 0
    with eng.begin() as conn:  # added up over the groups of batches judged apart in one run
        if dq_rows:
            conn.execute(
                text("insert into meta.dq_results (run_id, suite, check_name, expectation, column_name, severity,"
                     " success, element_count, unexpected_count, unexpected_percent, rows_quarantined) values"
                     " (:run_id, :suite, :check_name, :expectation, :column_name, :severity, :success,"
                     " :element_count, :unexpected_count, :unexpected_percent, :rows_quarantined)"
                     " on conflict (run_id, suite, check_name) do update set"
                     " success = meta.dq_results.success and excluded.success,"
                     " element_count = meta.dq_results.element_count + excluded.element_count,"
                     " unexpected_count = meta.dq_results.unexpected_count + excluded.unexpected_count,"
                     " unexpected_percent = 100.0 * (meta.dq_results.unexpected_count + excluded.unexpected_count)"
                     "  / nullif(meta.dq_results.element_count + excluded.element_count, 0),"
                     " rows_quarantined = meta.dq_results.rows_quarantined + excluded.rows_quarantined"),
                dq_rows,
            )

    if share > max_failure_share:
        raise DataQualityError(
            f"suite {name}: {len(bad_keys)} of {element_count} rows ({share:.1%}) failed critical checks, above "
            f"the allowed {max_failure_share:.0%}; nothing of these batches was promoted. Failing: "
            f"{'; '.join(failures)}. See meta.dq_results for run {run_id}; fix the source data or raise "
            f"suites.{name}.max_failure_share in config/quality.yaml"
        )

    quarantine = (
        "insert into quarantine.records (source, entity, record_id, version_at, suite, expectation, column_name,"  # noqa: S608
        " reason, payload, run_id) select :source, :entity, :record_id, :version_at, :suite, :expectation,"
        f" :column_name, :reason, r.payload, :run_id from {raw_table(source, entity)} as r"  # raw_table() validates
        " where r.record_id = :record_id and r.version_at = :version_at on conflict do nothing"
    )
    with eng.begin() as conn:
        if bad_rows:
            conn.execute(text(quarantine), bad_rows)
        _mark_validated(conn, batch_ids, run_id, raw_table(source, entity), checked)
    if failures:
        log.warning("suite %s: %d rows quarantined; %s", name, len(bad_keys), "; ".join(failures))
    return SuiteOutcome(name, element_count, len(bad_keys), failures)


CORE_SUITE = "core"


def check_core(eng: Engine, run_id: str) -> dict[str, int]:
    """Cross-entity checks over core after a merge (``sql/quality/core/*.sql``, each one select of
    ``checked`` and ``unexpected``): warnings, recorded in ``meta.dq_results`` under suite ``core``
    and logged, never quarantining (the rows are consistent one by one). Returns unexpected per check."""
    from smarketing.kpis import use_reporting_timezone

    found = {}
    with eng.begin() as conn:
        use_reporting_timezone(conn)
        for path in sorted((PATHS.sql / "quality" / CORE_SUITE).glob("*.sql")):
            checked, unexpected = conn.execute(text(path.read_text())).one()
            found[path.stem] = unexpected
            conn.execute(
                text("insert into meta.dq_results (run_id, suite, check_name, expectation, column_name, severity,"
                     " success, element_count, unexpected_count, unexpected_percent) values (:run_id, :suite,"
                     " :check, :check, '', 'warning', :success, :checked, :unexpected, :percent)"
                     " on conflict (run_id, suite, check_name) do update set success = excluded.success,"
                     " element_count = excluded.element_count, unexpected_count = excluded.unexpected_count,"
                     " unexpected_percent = excluded.unexpected_percent, evaluated_at = now()"),
                {"run_id": run_id, "suite": CORE_SUITE, "check": path.stem, "success": unexpected == 0,
                 "checked": checked, "unexpected": unexpected,
                 "percent": 100.0 * unexpected / checked if checked else None})
            if unexpected:
                log.warning("core check %s [warning]: %d of %d unexpected (%s)", path.stem, unexpected, checked,
                            _why(path))
    return found


def _why(path: Path) -> str:
    """The ``-- why:`` line of a check file (continued on ``--     `` lines)."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("-- why:")), None)
    if start is None:
        return ""
    words = [lines[start].removeprefix("-- why:").strip()]
    words += [line.removeprefix("--").strip() for line in lines[start + 1:] if line.startswith("--     ")]
    return " ".join(words)
