"""What the DAGs' tasks call: one function per task, taking the run's id and as-of date.

Each returns a small summary (counts only, never personal data) that lands in XCom.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from smarketing import config, warehouse
from smarketing.runs import record_run


def _engine() -> Engine:
    """The warehouse, once every file in config/ is valid and no other role can plant code on the
    pipeline's search path: each task starts here, so a typo in any file, or an unsafe warehouse,
    fails the task before it changes anything."""
    from smarketing import settings

    settings.require_valid()
    return warehouse.engine(config.warehouse_url())  # refuses an unsafe search path


def migrate() -> list[str]:
    return warehouse.migrate(_engine())


def extract(system: str, run_id: str, as_of: date, resync: list[str] | None = None) -> dict[str, Any]:
    """Land every entity of ``system`` from its cursor; those ``resync`` names (``system.entity``,
    or the whole ``system``) from the beginning, with what the source no longer has as deletions."""
    from datetime import timedelta

    from smarketing.landing import land_source
    from smarketing.sources import get_source, resync_entities, settings

    spec = settings()["systems"].get(system)
    lookback = timedelta(minutes=spec["lookback_minutes"] if spec else 0)
    eng, started = _engine(), datetime.now(UTC)
    source = get_source(system)
    again = resync_entities(system, source.entities, resync or [])
    stats = {s.entity: {"received": s.received, "new": s.new, "pages": s.pages}
             | ({"resync": True, "deleted": s.deleted} if s.entity in again else {})
             for s in land_source(eng, source, run_id, lookback, again)}
    record_run(eng, run_id, f"extract_{system}", as_of, started, stats)
    return stats


def load_file_drops(run_id: str, as_of: date) -> dict[str, Any]:
    """Apply every drop's new files. A rejected file, or a drop whose folder cannot be read, is
    logged as a warning and named in the result; the other files and drops go on."""
    from smarketing.file_drops import FileDropError, load_drop, load_drops, unmatched

    eng, started = _engine(), datetime.now(UTC)
    stats: dict[str, Any] = {}
    try:
        drops = load_drops()
        for drop in drops:
            try:
                result = load_drop(eng, drop, run_id)
            except (FileDropError, OSError) as exc:
                logging.getLogger(__name__).warning("drop %s was not read: %s", drop.name, exc)
                stats[drop.name] = {"error": str(exc)}
                continue
            stats[drop.name] = {"files_loaded": result.files_loaded, "files_skipped": result.files_skipped,
                                "rows_loaded": result.rows_loaded, "rows_quarantined": result.rows_quarantined,
                                "rows_deleted": result.rows_deleted, "files_rejected": result.rejected,
                                "values_held": result.values_held}
        for name, left in unmatched(drops).items():
            logging.getLogger(__name__).warning("drop %s: %d entries of its folder match no drop's pattern, not"
                                                " read: %s", name, len(left), ", ".join(left))
            stats.setdefault(name, {})["files_unmatched"] = left
    finally:
        record_run(eng, run_id, "file_drops", as_of, started, stats)
    return stats


def _landed_entities() -> list[tuple[str, str]]:
    from smarketing.file_drops import SOURCE, load_drops
    from smarketing.sources import default_entities, settings

    entities = []
    for system, spec in settings()["systems"].items():
        entities += [(system, e) for e in spec["entities"] or default_entities(spec["kind"], system)]
    return entities + [(SOURCE, drop.entity) for drop in load_drops()]


def validate(run_id: str, as_of: date, max_failure_share: float | None = None) -> dict[str, Any]:
    """Validate what landed; ``max_failure_share`` overrides config/quality.yaml for every suite. A
    suite over its failure share holds its batches back and is named under ``held``; the merge of
    the others goes on, and ``quality_gate`` fails the run afterwards."""
    from smarketing.quality import DataQualityError, validate_pending

    eng, started = _engine(), datetime.now(UTC)
    entities = _landed_entities()
    held = None
    try:
        outcomes = validate_pending(eng, config.warehouse_url(), run_id, entities, max_failure_share,
                                    run_name=f"{run_id}_as_of_{as_of.isoformat()}")
    except DataQualityError as exc:
        outcomes, held = exc.outcomes, str(exc)
    stats: dict[str, Any] = {o.suite: {"rows": o.rows, "quarantined": o.quarantined, "failures": o.failures,
                                       "seconds": o.seconds, "process": o.process} for o in outcomes}
    if held:
        stats["held"] = held
    record_run(eng, run_id, "validate", as_of, started, stats)
    return stats


def quality_gate(validated: dict[str, Any] | None, merged: dict[str, Any] | None) -> None:
    """Fail, after the merge ran, naming the held suites when validation held batches back, and
    the currencies and days without an exchange rate (those amounts are missing from every sum);
    and when validation or the merge did not finish (its own task failed: this one fails the run)."""
    from smarketing.quality import DataQualityError

    if validated is None or merged is None:
        raise DataQualityError(f"the {'validation' if validated is None else 'merge'} did not finish: its task"
                               " failed, and core is as the last successful merge left it (its log says why)")
    problems = []
    if validated and validated.get("held"):
        problems.append(validated["held"])
    if merged and merged.get("missing_rates"):
        problems.append("no exchange rate into the reporting currency for " + ", ".join(merged["missing_rates"])
                        + ": these opportunities have no amount in core and the marts until a rate arrives"
                        " (config/kpis.yaml exchange_rates, an exchange_rates file drop, or the CRM's rates)")
    if problems:
        raise DataQualityError("; ".join(problems))


def merge(run_id: str, as_of: date, full: bool = False) -> dict[str, Any]:
    """The merge into core, then the cross-entity checks over it (warnings in meta.dq_results)."""
    from smarketing.quality import check_core
    from smarketing.transform import merge_core

    eng, started = _engine(), datetime.now(UTC)
    stats = merge_core(eng, as_of, full=full)
    stats["core_checks"] = check_core(eng, run_id)
    stats["missing_rates"] = missing_rates(eng)
    if stats["missing_rates"]:
        import logging

        logging.getLogger(__name__).warning("no exchange rate into the reporting currency for %s",
                                            ", ".join(stats["missing_rates"]))
    record_run(eng, run_id, "merge", as_of, started, stats)
    return stats


def missing_rates(eng: Engine) -> list[str]:
    """'<currency> on <first day>..<last day> (<n> opportunities)' for the opportunities whose
    deal amount has no rate into the reporting currency."""
    from sqlalchemy import text

    with eng.connect() as conn:
        rows = conn.execute(text(
            "select deal_currency, min(coalesce(close_date, created_at::date)), max(coalesce(close_date,"
            " created_at::date)), count(*) from core.opportunity where deal_amount is not null and amount is null"
            " group by deal_currency order by deal_currency")).all()
    return [f"{currency} on {first}" + (f"..{last}" if last != first else "") + f" ({n} opportunities)"
            for currency, first, last, n in rows]


def refresh_kpis(run_id: str, as_of: date) -> dict[str, Any]:
    """Rebuild the marts; a refresh that fails the mart checks publishes nothing and fails the task
    without retries (``MartCheckError``), naming the checks."""
    from smarketing.kpis import MartCheckError, refresh_marts

    eng, started = _engine(), datetime.now(UTC)
    try:
        stats = refresh_marts(eng, as_of)
    except MartCheckError as exc:
        record_run(eng, run_id, "kpis", as_of, started, {"violations": exc.violations})
        raise
    record_run(eng, run_id, "kpis", as_of, started, {"rows": stats, "violations": []})
    return stats


def write_kpi_report(as_of: date, mail: bool = False) -> str:
    """The KPI report of the marts just published (``reports/kpis_<as_of>.html``); with ``mail``,
    sent to ``SMARKETING_REPORT_EMAIL`` when set. Returns its path."""
    from smarketing import kpi_report

    path = kpi_report.write(_engine(), as_of)
    if mail:
        kpi_report.mail(path, as_of)
    return str(path)


def report_after_lists(as_of: date) -> str | None:
    """The KPI report written again after the lists of ``as_of``, mailed as ``write_kpi_report``
    does; None when the marts are of another date (lists run alone for it: ``--only nurture``),
    whose report stays as it is, said in the log. Returns its path."""
    from smarketing import kpi_report

    published = kpi_report.marts_as_of(_engine())
    if published != as_of:
        logging.getLogger(__name__).warning(
            "the KPI report is left as it is: the marts are as of %s, not %s (refresh them for %s to report it)",
            published, as_of, as_of)
        return None
    return write_kpi_report(as_of, mail=True)


def build_nurture_lists(run_id: str, as_of: date) -> dict[str, Any]:
    """Suppression, lists and views in one transaction, then the files and the pushes; a failed
    delivery fails the task after the others were attempted, naming program and path or list."""
    from smarketing.nurture.lists import DeliveryError, build_lists, retire_programs
    from smarketing.nurture.programs import load_programs, nurture_settings

    eng, started = _engine(), datetime.now(UTC)
    settings = nurture_settings()
    programs = load_programs()
    run = build_lists(eng, list(programs.values()), as_of, run_id, settings)
    retire_programs(eng, programs, settings)
    errors = list(run.failures)
    lists = {r.program: {"members": r.members, "eligible": r.eligible, "added": r.added, "removed": r.removed,
                         "export_path": str(r.export_path)} for r in run.lists}
    pushes = push_nurture_lists(eng, settings, errors)
    stats = {"suppressed": run.suppressed, "suppression_scope": run.suppression_scope or "whole", "lists": lists,
             "pushes": pushes}
    record_run(eng, run_id, "nurture", as_of, started, stats | ({"errors": errors} if errors else {}))
    if errors:
        raise DeliveryError("; ".join(errors))
    return stats


def push_nurture_lists(eng: Engine, settings: dict[str, Any] | None = None, errors: list[str] | None = None,
                       only: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Send each program to the platforms config/nurture.yaml names for it (the difference only);
    empty the lists of programs that no longer name one (``smarketing.nurture.destinations``).
    Failures are appended to ``errors`` (raised at once when None)."""
    from smarketing.nurture.programs import nurture_settings
    from smarketing.nurture.push import push_all

    return push_all(eng, settings or nurture_settings(), errors, only=only, dry_run=dry_run)


def run_pipeline(run_id: str, as_of: date) -> dict[str, Any]:
    """Every stage in order without Airflow (tests, benchmarks); the DAGs call the same functions."""
    from smarketing.sources import systems

    stats: dict[str, Any] = {"migrate": migrate()}
    for system in systems():
        stats[f"extract_{system}"] = extract(system, run_id, as_of)
    stats["file_drops"] = load_file_drops(run_id, as_of)
    stats["validate"] = validate(run_id, as_of)
    stats["merge"] = merge(run_id, as_of)
    stats["kpis"] = refresh_kpis(run_id, as_of)
    stats["nurture"] = build_nurture_lists(run_id, as_of)
    quality_gate(stats["validate"], stats["merge"])
    return stats
