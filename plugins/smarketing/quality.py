"""Data quality: Great Expectations suites run in the warehouse over newly landed batches.

Convention, so adding a check needs no code: a raw entity ``raw.<source>__<entity>`` is
validated when a suite ``expectations/gx/expectations/<source>__<entity>.json`` exists; the
rows it sees are the typed projection ``sql/quality/<source>__<entity>.sql``, which must
select ``record_id``, ``version_at`` and ``batch_id`` plus the checked columns.

Rows failing a ``critical`` expectation move to ``quarantine.records`` with the reason; the
others go on. When more than ``max_failure_share`` of a batch fails, the run stops and
nothing of that batch is marked validated, so nothing of it reaches core. Every expectation's
outcome lands in ``meta.dq_results`` either way.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from smarketing.config import PATHS
from smarketing.warehouse import raw_table

log = logging.getLogger(__name__)

DEFAULT_MAX_FAILURE_SHARE = 0.05
ROW_KEYS = ["record_id", "version_at"]


class DataQualityError(RuntimeError):
    """A batch failed its suite beyond the allowed share; nothing of it was promoted."""


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    quarantined: int
    failures: list[str] = field(default_factory=list)  # "expectation(column): n unexpected"


def suite_dir() -> Path:
    return PATHS.expectations / "gx" / "expectations"


def _pending_batches(eng: Engine, source: str, entity: str) -> list[str]:
    with eng.connect() as conn:
        rows = conn.execute(
            text(
                "select batch_id from meta.batches where source = :s and entity = :e "
                "and validated_at is null order by landed_at"
            ),
            {"s": source, "e": entity},
        )
        return [str(r.batch_id) for r in rows]


def _mark_validated(conn: Any, batch_ids: list[str], run_id: str) -> None:
    conn.execute(
        text(
            "update meta.batches set validated_at = now(), validation_run_id = :r "
            "where batch_id = any(cast(:ids as uuid[]))"
        ),
        {"r": run_id, "ids": batch_ids},
    )


def _gx_context() -> Any:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context


def validate_pending(eng: Engine, url: str, run_id: str, entities: list[tuple[str, str]],
                     max_failure_share: float = DEFAULT_MAX_FAILURE_SHARE) -> list[SuiteOutcome]:
    """Validate every landed, not yet validated batch of ``entities`` ((source, entity) pairs)."""
    outcomes = []
    context = None
    for source, entity in entities:
        batch_ids = _pending_batches(eng, source, entity)
        if not batch_ids:
            continue
        name = f"{source}__{entity}"
        suite_file = suite_dir() / f"{name}.json"
        if not suite_file.exists():
            with eng.begin() as conn:
                _mark_validated(conn, batch_ids, run_id)
            continue
        context = context or _gx_context()
        outcomes.append(_validate(eng, context, url, run_id, source, entity, suite_file, batch_ids, max_failure_share))
    return outcomes


def _validate(eng: Engine, context: Any, url: str, run_id: str, source: str, entity: str, suite_file: Path,
              batch_ids: list[str], max_failure_share: float) -> SuiteOutcome:
    import great_expectations as gx

    name = f"{source}__{entity}"
    suite = context.suites.add_or_update(gx.ExpectationSuite(**json.loads(suite_file.read_text())))
    projection = (PATHS.sql / "quality" / f"{name}.sql").read_text().strip().rstrip(";")
    ids = ", ".join(f"'{uuid.UUID(b)}'" for b in batch_ids)  # our own UUIDs, re-parsed: safe to inline
    query = f"select * from ({projection}) as rows where batch_id in ({ids})"  # noqa: S608 - see ids
    datasource_name = f"warehouse_{uuid.uuid4().hex[:8]}"
    datasource = context.data_sources.add_postgres(name=datasource_name, connection_string=url)
    try:
        batch = datasource.add_query_asset(name=name, query=query).add_batch_definition_whole_table("new").get_batch()
        result = batch.validate(
            suite,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ROW_KEYS,
                           "return_unexpected_index_query": False},
        )
    finally:
        context.data_sources.delete(datasource_name)

    dq_rows, bad_rows, failures = [], [], []
    element_count = 0
    for res in result.results:
        cfg = res.expectation_config
        column = cfg.kwargs.get("column") or ""
        severity = str(getattr(cfg.severity, "value", cfg.severity) or "critical")
        r = res.result or {}
        element_count = max(element_count, r.get("element_count") or 0)
        dq_rows.append({
            "run_id": run_id, "suite": name, "expectation": cfg.type, "column_name": column,
            "severity": severity, "success": bool(res.success), "element_count": r.get("element_count"),
            "unexpected_count": r.get("unexpected_count"), "unexpected_percent": r.get("unexpected_percent"),
        })
        if res.success:
            continue
        failures.append(f"{cfg.type}({column}): {r.get('unexpected_count')} unexpected [{severity}]")
        if severity != "critical":
            continue
        reason = f"{cfg.type} failed on {column or 'row'}"
        for row in r.get("unexpected_index_list") or []:
            value = row.get(column) if column else None
            bad_rows.append({
                "source": source, "entity": entity, "record_id": row["record_id"], "version_at": row["version_at"],
                "suite": name, "expectation": cfg.type, "column_name": column,
                "reason": f"{reason}: {value!r}" if column else reason, "run_id": run_id,
            })

    with eng.begin() as conn:
        conn.execute(text("delete from meta.dq_results where run_id = :r and suite = :s"), {"r": run_id, "s": name})
        if dq_rows:
            conn.execute(
                text(
                    "insert into meta.dq_results (run_id, suite, expectation, column_name, severity, success,"
                    " element_count, unexpected_count, unexpected_percent) values (:run_id, :suite, :expectation,"
                    " :column_name, :severity, :success, :element_count, :unexpected_count, :unexpected_percent)"
                ),
                dq_rows,
            )

    bad_keys = {(b["record_id"], b["version_at"]) for b in bad_rows}
    share = len(bad_keys) / element_count if element_count else 0.0
    if share > max_failure_share:
        raise DataQualityError(
            f"suite {name}: {len(bad_keys)} of {element_count} rows ({share:.1%}) failed critical expectations, "
            f"above the allowed {max_failure_share:.0%}; nothing of these batches was promoted. "
            f"Failing: {'; '.join(failures)}"
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
        _mark_validated(conn, batch_ids, run_id)
    if failures:
        log.warning("suite %s: %d rows quarantined; %s", name, len(bad_keys), "; ".join(failures))
    return SuiteOutcome(name, element_count, len(bad_keys), failures)
