"""Transform: promote validated batches into staging, then merge into core with set-based SQL.

Incremental by construction. Promotion moves the rows of batches validated since the last merge
into ``staging.latest_<raw table>`` (each record's latest valid version) and notes which records
changed (``merge_changes``); identity resolution re-matches only records whose keys changed
(``identity_affected``); ``sql/core/merge_*.sql`` turn both into the persons and opportunities
to recompute, and every core step reads or rewrites only those (and the events, activities and
touchpoints that hang on them). A full refresh promotes every batch again into empty latest
tables, so every record counts as changed: the same code path, the whole scope.

The merge runs in one transaction: a failure leaves staging and core as they were, and the
batches stay unpromoted for the next run. A rerun with nothing new changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from datetime import date, timedelta
from typing import Any

from psycopg import sql as psql
from sqlalchemy import Connection, Engine, text

from smarketing import file_catalog, identity, models
from smarketing.config import PATHS
from smarketing.kpis import kpi_settings, use_reporting_timezone
from smarketing.landing import ensure_raw_table
from smarketing.warehouse import analyze_if_grown, take_turn, use_work_mem
from smarketing.warehouse import dbapi as warehouse_dbapi

log = logging.getLogger(__name__)

# Identity resolution (identity.py) between the models of sql/core: what it reads and writes.
IDENTITY = models.Step(
    name="identity", run=lambda conn, params: None,
    reads=frozenset({"staging.int_person_records", "merge_changes"}),
    writes=frozenset({"core.person", "core.person_identity", "core.person_merge", "core.identity_record",
                      "core.identity_edge", "identity_affected", "identity_records"}))
REMOVED_OPPORTUNITIES = """
create temporary table removed_opportunities on commit drop as
select o.opportunity_id
from core.opportunity as o
where (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)
    and not exists (select 1 from staging.int_opportunities as i
                    where i.source = o.source and i.source_record_id = o.source_record_id);
delete from core.opportunity_daily where opportunity_id in (select opportunity_id from removed_opportunities);
delete from core.opportunity_line_item where opportunity_id in (select opportunity_id from removed_opportunities);
delete from core.opportunity_stage_history where opportunity_id in (select opportunity_id from removed_opportunities);
update core.activity set opportunity_id = null
where opportunity_id in (select opportunity_id from removed_opportunities);
delete from core.opportunity where opportunity_id in (select opportunity_id from removed_opportunities);
"""


def _remove_opportunities(conn: Connection, _: Any) -> int:
    """Opportunities in scope that no source delivers any more (deleted or archived in the CRM,
    missing from a snapshot drop, a CRM that is no longer the system of record) leave core with
    their stage history and snapshots; activities about them stay, unlinked. Their persons are in
    ``merge_persons`` already (it reads the opportunities before this merge), so a customer whose
    only won deal was deleted is one no more."""
    dbapi = warehouse_dbapi(conn)
    with dbapi.cursor() as cur:
        cur.execute(REMOVED_OPPORTUNITIES)
    return conn.exec_driver_sql("select count(*) from removed_opportunities").scalar_one()


# Between the opportunity upsert and every model that reads core.opportunity.
REMOVE_OPPORTUNITIES = models.Step(
    name="removed_opportunities", run=_remove_opportunities,
    reads=frozenset({"core.opportunity", "staging.int_opportunities", "merge_opportunities"}),
    writes=frozenset({"core.opportunity", "core.opportunity_daily", "core.opportunity_stage_history",
                      "core.opportunity_line_item", "core.activity", "removed_opportunities"}))
# Month-end pipeline snapshots kept back from the as-of date (for forecast accuracy).
SNAPSHOT_MONTHS = 12


LANDING_COLUMNS = {"record_id", "version_at", "is_deleted", "payload", "batch_id"}
LANDING_NAME = re.compile(r"^[a-z][a-z0-9_]*__[a-z][a-z0-9_]*$")


def landing_tables(conn: Connection) -> list[str]:
    """The tables of ``raw`` that landing made (``<source>__<entity>`` with the landing columns);
    any other table or view there is named in a warning and left alone."""
    columns: dict[str, tuple[str, list[str]]] = {name: (kind, names) for name, kind, names in conn.exec_driver_sql(
        "select c.relname, c.relkind::text, array_agg(a.attname::text) from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'raw'"
        " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.relkind in ('r', 'p', 'v', 'm', 'f') group by c.relname, c.relkind order by c.relname").all()}
    landed = []
    for table, (kind, names) in columns.items():
        if kind in ("r", "p") and LANDING_NAME.match(table) and LANDING_COLUMNS <= set(names):
            landed.append(table)
        else:
            log.warning("raw.%s is not a landing table (named <source>__<entity>, with columns %s): the merge"
                        " leaves it alone", table, ", ".join(sorted(LANDING_COLUMNS)))
    return landed


def modelled_entities() -> list[tuple[str, str]]:
    """(source, entity) of every landing table a staging view reads: each connector's entities
    and the file-drop catalog's."""
    from smarketing.sources.hubspot import ENTITIES as HUBSPOT
    from smarketing.sources.mailchimp import ENTITIES as MAILCHIMP
    from smarketing.sources.salesforce import OBJECTS as SALESFORCE

    return ([("hubspot", e) for e in HUBSPOT] + [("salesforce", e) for e in SALESFORCE]
            + [("mailchimp", e) for e in MAILCHIMP] + [("file", e) for e in file_catalog.ENTITIES])


# How sql/staging/_latest.sql brings a record's version in: a newer version replaces the one there.
UPSERT = psql.SQL("on conflict (record_id) do update set version_at = excluded.version_at,"
                  " is_deleted = excluded.is_deleted, payload = excluded.payload, batch_id = excluded.batch_id,"
                  " extracted_at = excluded.extracted_at where excluded.version_at > l.version_at")


def refresh_staging(conn: Connection, full: bool = False) -> int:
    """Promote validated, not yet promoted batches into ``staging.latest_<table>`` (every batch
    again into emptied tables when ``full``), recording changed records in the temporary table
    ``merge_changes``; then create or replace the source views (stg_*) and those built on them
    (int_*). Returns the number of changed records."""
    template = (PATHS.sql / "staging" / "_latest.sql").read_text()
    for source, entity in modelled_entities():  # views compile before an entity's first page or file lands
        ensure_raw_table(conn, source, entity)
    tables = landing_tables(conn)
    dbapi = warehouse_dbapi(conn)
    conn.exec_driver_sql("create temporary table if not exists merge_changes (source text, entity text,"
                         " record_id text) on commit drop")
    declared = lookups()
    for table in tables:
        dbapi.execute(psql.SQL("create table if not exists {} (like {} including defaults, primary key (record_id))")
                      .format(psql.Identifier("staging", f"latest_{table}"), psql.Identifier("raw", table)))
        for n, expression in enumerate(declared.get(table, []), 1):
            dbapi.execute(psql.SQL("create index if not exists {} on {} (({}))").format(
                psql.Identifier(f"latest_{table}_lookup_{n}"), psql.Identifier("staging", f"latest_{table}"),
                psql.SQL(expression)))
        if full:
            dbapi.execute(psql.SQL("truncate {}").format(psql.Identifier("staging", f"latest_{table}")))
    if full:
        conn.exec_driver_sql("update meta.batches set promoted_at = null where promoted_at is not null")
    send_back_grown_batches(conn, tables)
    conn.exec_driver_sql(
        "create temporary table promoting on commit drop as select batch_id, source, entity from meta.batches"
        " where validated_at is not null and promoted_at is null")
    pending = set(conn.exec_driver_sql("select distinct source || '__' || entity from promoting").scalars().all())
    total = 0
    for table in tables:
        if table not in pending:
            continue
        source, _, entity = table.partition("__")
        # into an empty table (a first load, a full refresh): without the lookup indexes, made again
        # after the insert, and without ``on conflict``
        with models.loading(conn, f"staging.latest_{table}") as empty:
            changed = conn.exec_driver_sql(psql.SQL(template).format(  # via SQLAlchemy: timed by bench --profile
                latest=psql.Identifier("staging", f"latest_{table}"), table=psql.Identifier("raw", table),
                source=psql.Literal(source), entity=psql.Literal(entity), upsert=psql.SQL("") if empty else UPSERT,
            ).as_string(dbapi)).rowcount
        analyze_if_grown(conn, "staging", f"latest_{table}", changed)
        total += changed
    # a file row quarantined as its file was read names its record, whose opt-out it holds (staging's
    # opt_out kind): that record is decided again, whether or not a clean row of it came with it
    total += conn.exec_driver_sql(
        "insert into merge_changes (source, entity, record_id)"
        " select distinct 'file', q.entity, q.payload ->> 'record_id' from quarantine.records as q"
        " where q.source = 'file' and q.entity in ('leads', 'contacts') and q.payload ->> 'record_id' is not null"
        " and q.version_at in (select r.version_at from raw.file__leads as r inner join promoting as p"
        "  on r.batch_id = p.batch_id union select r.version_at from raw.file__contacts as r"
        "  inner join promoting as p on r.batch_id = p.batch_id)").rowcount
    conn.exec_driver_sql("update meta.batches set promoted_at = now()"
                         " where batch_id in (select batch_id from promoting)")
    conn.exec_driver_sql("drop table promoting")
    conn.exec_driver_sql("create index on merge_changes (source, entity, record_id)")
    conn.exec_driver_sql("analyze merge_changes")
    for _, statement in staging_views():
        conn.exec_driver_sql(statement)
    return total


def send_back_grown_batches(conn: Connection, tables: list[str]) -> None:
    """Send every validated batch about to be promoted that holds more raw rows than validation
    checked (``rows_checked``) back to validation, saying so. A row a loader inserted before the
    batch's check and committed after it joined the batch unchecked: the checked-batch trigger had
    looked at the batch before the check."""
    waiting = set(conn.exec_driver_sql(
        "select distinct source || '__' || entity from meta.batches"
        " where validated_at is not null and promoted_at is null and rows_checked is not null").scalars().all())
    grown = []
    for table in sorted(waiting & set(tables)):
        source, _, entity = table.partition("__")
        for batch_id, checked, now in conn.execute(text(
                f"select cast(b.batch_id as text), b.rows_checked, count(*) from raw.{table} as r"  # noqa: S608
                " inner join meta.batches as b on r.batch_id = b.batch_id"
                " where b.source = :source and b.entity = :entity and b.validated_at is not null"
                " and b.promoted_at is null and b.rows_checked is not null"
                " group by b.batch_id, b.rows_checked having count(*) > b.rows_checked"),
                {"source": source, "entity": entity}):
            log.warning("raw.%s, batch %s: %d rows, %d when validation checked it; rows joined it after its"
                        " check, so it goes back to validation and is not promoted before", table, batch_id, now,
                        checked)
            grown.append(batch_id)
    if grown:
        conn.execute(text("update meta.batches set validated_at = null, validation_run_id = null, rows_checked = null"
                          " where batch_id = any(cast(:ids as uuid[]))"), {"ids": grown})


_LOOKUP = re.compile(r"^-- lookup: ([a-z][a-z0-9_]*__[a-z][a-z0-9_]*) \((.+)\)$", re.M)


def lookups() -> dict[str, list[str]]:
    """The payload expressions core looks rows of ``staging.latest_<table>`` up by, per table, from
    the ``-- lookup: <table> (<expression>)`` lines of ``sql/staging/stg_*.sql``: each gets an index
    on the latest table, so a scope written as ``column = any(array(...))`` reads the rows it
    needs, not the table."""
    found: dict[str, list[str]] = {}
    for path in sorted((PATHS.sql / "staging").glob("stg_*.sql")):
        for table, expression in _LOOKUP.findall(path.read_text()):
            found.setdefault(table, []).append(expression)
    return found


def staging_views() -> list[tuple[str, str]]:
    """(view, statement) of every staging view in the order they are made, each dropped and made
    anew as its file says (``create or replace`` refuses a column added before others or renamed,
    as an upgrade may bring): first the ``int_*.sql`` views, which read the others, are dropped;
    then the file-drop views from the entity catalog, ``sql/staging/stg_*.sql``, and ``int_*.sql``
    are made. No ``cascade``: a view of someone else's on staging stops the merge, named by the
    server, instead of vanishing."""
    folder = PATHS.sql / "staging"
    derived = sorted(folder.glob("int_*.sql"))
    views = [("", "".join(f"drop view if exists staging.{path.stem};\n" for path in derived))]
    for name in file_catalog.ENTITIES:
        views.append((f"stg_file__{name}", f"drop view if exists staging.stg_file__{name};\n"
                                           + file_catalog.staging_sql(name)))
    views += [(path.stem, f"drop view if exists staging.{path.stem};\n" + path.read_text())
              for path in sorted(folder.glob("stg_*.sql"))]
    views += [(path.stem, path.read_text()) for path in derived]
    return views


def deal_settings() -> dict[str, Any]:
    """What ``config/sources.yaml`` says about deals: per system its stage map, and the system of record."""
    from smarketing.sources import settings

    sources = settings()
    return {"stage_map": {system: dict(spec["deal_stages"]) for system, spec in sources["systems"].items()
                          if spec["deal_stages"]},
            "system_of_record": sources["deals_system_of_record"],
            "custom_fields": [{"source": system, "entity": entity, "field": field, "name": spec_["name"],
                               "type": spec_["type"]}
                              for system, spec in sources["systems"].items()
                              for entity, fields in spec["custom_fields"].items() for field, spec_ in fields.items()]}


def core_settings_digest(deals: dict[str, Any]) -> str:
    """What core's stored values depend on besides identity: the deal settings, the reporting time
    zone (a deal's close date is its close day there), the reporting currency and configured rates."""
    kpis = kpi_settings()
    settings = {**deals, **{key: kpis[key] for key in ("reporting_timezone", "reporting_currency", "exchange_rates")}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def apply_deal_settings(conn: Connection, deals: dict[str, Any]) -> None:
    """Write the deal settings into ``meta.deal_stage_map``, ``meta.custom_fields`` and
    ``meta.deal_sources`` (read by the staging views), in the merge's transaction."""
    conn.exec_driver_sql("delete from meta.deal_stage_map")
    rows = [{"source": system, "key": key, "stage": stage}
            for system, stages in deals["stage_map"].items() for key, stage in stages.items()]
    if rows:
        conn.execute(text("insert into meta.deal_stage_map (source, stage_key, stage) values (:source, :key, :stage)"),
                     rows)
    conn.exec_driver_sql("delete from meta.custom_fields")
    if deals["custom_fields"]:
        conn.execute(text("insert into meta.custom_fields (source, entity, field, name, type)"
                          " values (:source, :entity, :field, :name, :type)"), deals["custom_fields"])
    conn.exec_driver_sql("delete from meta.deal_sources")
    if deals["system_of_record"]:
        conn.execute(text("insert into meta.deal_sources (source) values (:source)"),
                     {"source": deals["system_of_record"]})


def snapshot_dates(as_of: date, months: int = SNAPSHOT_MONTHS) -> list[date]:
    """The as-of date and the last day of each of the ``months`` months before it."""
    dates = [as_of]
    month_start = as_of.replace(day=1)
    for _ in range(months):
        month_end = month_start - timedelta(days=1)
        dates.append(month_end)
        month_start = month_end.replace(day=1)
    return dates


def merge_core(eng: Engine, as_of: date, settings: dict[str, Any] | None = None,
               full: bool = False) -> dict[str, Any]:
    """Promote, resolve identities and bring core up to date; return what changed per step.

    ``full`` recomputes everything from raw (a full refresh); the result is the same as the
    incremental runs that led here."""
    settings = settings if settings is not None else identity.identity_settings()
    params = identity.sql_params(settings)
    deals = deal_settings()
    deals_digest = core_settings_digest(deals)
    with eng.connect() as conn:
        applied: dict[str, str] = dict(conn.execute(text(
            "select name, digest from meta.settings_applied where name in ('identity', 'deals')")).all())
    if applied.get("identity") not in (None, params["settings_digest"]) and not full:
        log.warning("config/identity.yaml or identity's rules (an upgrade) changed since the last merge: this merge"
                    " recomputes core from every record (a full refresh), so every person follows them")
        full = True
    if applied.get("deals") not in (None, deals_digest) and not full:
        log.warning("the deal stages, custom fields or deals_system_of_record of config/sources.yaml, or the"
                    " reporting time zone, currency or exchange rates of config/kpis.yaml changed since the last"
                    " merge: this merge recomputes core from every record (a full refresh)")
        full = True
    priorities = {f"{attr}_priority": list(order)
                  for attr, order in settings["survivorship"].items()}
    for attr in ("first_name", "last_name", "company_name", "owner_id", "email", "source_channel"):
        priorities.setdefault(f"{attr}_priority", [])
    money = kpi_settings()
    params.update(priorities, snapshot_dates=snapshot_dates(as_of), reporting_currency=money["reporting_currency"],
                  rate_currencies=list(money["exchange_rates"]),
                  rate_values=[float(v) for v in money["exchange_rates"].values()])

    def resolve_identities(conn: Connection, _: Any) -> dict[str, int]:
        stats = vars(identity.resolve(conn, settings, full))
        analyze_if_grown(conn, "core", "person", stats["new_persons"])
        analyze_if_grown(conn, "core", "person_identity", stats["changed"])
        return stats

    changed: dict[str, Any] = {}
    with eng.begin() as conn:
        use_work_mem(conn)
        # merges take turns: a second one waits for the first, then finds nothing left to promote
        take_turn(conn, "smarketing.merge", "merge")
        use_reporting_timezone(conn)
        apply_deal_settings(conn, deals)
        # every person in scope (a first load, a full refresh): reading whole staging tables beats
        # looking each record up, which pays off for the few records of an incremental run
        params["whole"] = full or not conn.exec_driver_sql("select exists (select from core.person)").scalar()
        changed["staging"] = refresh_staging(conn, full)
        identity_step = dataclasses.replace(IDENTITY, run=resolve_identities)
        changed.update(models.run(conn, [identity_step, REMOVE_OPPORTUNITIES, *models.load("core")], params))
        unmapped = conn.exec_driver_sql(
            "select distinct coalesce(s.pipeline_label, d.pipeline_id) || ': ' || coalesce(s.stage_label, d.stage_id)"
            " || ' (' || d.stage_id || ')' from staging.stg_hubspot__deals as d"
            " left join staging.stg_hubspot__deal_stages as s on d.pipeline_id = s.pipeline_id"
            " and d.stage_id = s.stage_id where not d.is_deleted and not coalesce(d.is_closed, false)"
            " and not coalesce(s.is_mapped, false) order by 1").scalars().all()
        if not deals["system_of_record"]:
            crms = conn.exec_driver_sql("select string_agg(distinct source, ', ' order by source) from"
                                        " staging.int_opportunities where source <> 'file'").scalar()
            if crms and "," in crms:
                log.warning("deals from %s all count: a deal synced between them counts twice; name the one that"
                            " counts with deals_system_of_record in config/sources.yaml", crms)
        if unmapped:
            log.warning("HubSpot deal stages without a shared stage (map them under systems.hubspot.deal_stages in"
                        " config/sources.yaml): %s", "; ".join(unmapped))
        changed["scope"] = {
            "records": changed["staging"],
            "persons": conn.exec_driver_sql("select count(distinct person_id) from merge_persons").scalar_one(),
            "opportunities": conn.exec_driver_sql("select count(*) from merge_opportunities").scalar_one(),
        }
        conn.execute(text("insert into meta.settings_applied (name, digest) values (:name, :digest)"
                          " on conflict (name) do update set digest = excluded.digest, applied_at = now()"
                          " where meta.settings_applied.digest <> excluded.digest"),
                     [{"name": "identity", "digest": params["settings_digest"]},
                      {"name": "deals", "digest": deals_digest}])
        changed["full_refresh"] = full
    return changed
