"""Transform: promote validated batches into staging, then merge into core with set-based SQL.

Incremental by construction. Promotion moves the rows of batches validated since the last merge
into ``staging.latest_<raw table>`` (each record's latest valid version) and notes which records
changed (``merge_changes``); identity resolution re-matches only records whose keys changed
(``identity_affected``); ``sql/core/_scope.sql`` turns both into the persons and opportunities
to recompute, and every core step reads or rewrites only those (and the events, activities and
touchpoints that hang on them). A full refresh promotes every batch again into empty latest
tables, so every record counts as changed: the same code path, the whole scope.

The merge runs in one transaction: a failure leaves staging and core as they were, and the
batches stay unpromoted for the next run. A rerun with nothing new changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from psycopg import sql as psql
from sqlalchemy import Connection, Engine, text

from smarketing import identity
from smarketing.config import PATHS
from smarketing.warehouse import run_script, run_sql_file

# Recomputed for the persons or opportunities in scope (delete, then insert), in this order.
SCOPED_REBUILDS = ("opportunity_stage_history", "lifecycle_event", "person_lifecycle_history", "consent")
# What a scoped step removes before it inserts its scope again (temp tables from sql/core/_scope.sql).
_OPPORTUNITIES_IN_SCOPE = ("select o.opportunity_id from core.opportunity o where (o.source, o.source_record_id)"
                           " in (select source, source_record_id from merge_opportunities)")
SCOPE_DELETES = {
    "opportunity_stage_history": "delete from core.opportunity_stage_history where opportunity_id in ("  # noqa: S608
                                 + _OPPORTUNITIES_IN_SCOPE + ")",
    "lifecycle_event": "delete from core.lifecycle_event where person_id in (select person_id from merge_persons)",
    "person_lifecycle_history": "delete from core.person_lifecycle_history"
                                " where person_id in (select person_id from merge_persons)",
    "consent": "delete from core.consent where person_id in (select person_id from merge_persons)",
    "touchpoint": "delete from core.touchpoint where person_id in (select person_id from merge_persons)"
                  " or (source, source_record_id) in (select source, record_id from merge_changes)",
    "opportunity_daily": "delete from core.opportunity_daily where snapshot_date = :d and opportunity_id in ("  # noqa: S608
                         + _OPPORTUNITIES_IN_SCOPE + ")",
}
# Core tables whose statistics are refreshed after a merge that changed much of them.
ANALYZED = ("person", "person_identity", "account", "opportunity", "campaign", "activity", "email_event",
            "touchpoint", *SCOPED_REBUILDS, "opportunity_daily")
# Month-end pipeline snapshots kept back from the as-of date (for forecast accuracy).
SNAPSHOT_MONTHS = 12


def refresh_staging(conn: Connection, full: bool = False) -> int:
    """Promote validated, not yet promoted batches into ``staging.latest_<table>`` (every batch
    again into emptied tables when ``full``), recording changed records in the temporary table
    ``merge_changes``; then create or replace the source views (stg_*) and those built on them
    (int_*). Returns the number of changed records."""
    template = (PATHS.sql / "staging" / "_latest.sql").read_text()
    tables = conn.exec_driver_sql(
        "select table_name from information_schema.tables where table_schema = 'raw' order by table_name"
    ).scalars().all()
    dbapi = conn.connection.driver_connection
    conn.exec_driver_sql("create temporary table if not exists merge_changes (source text, entity text,"
                         " record_id text) on commit drop")
    for table in tables:
        dbapi.execute(psql.SQL("create table if not exists {} (like {} including defaults, primary key (record_id))")
                      .format(psql.Identifier("staging", f"latest_{table}"), psql.Identifier("raw", table)))
        if full:
            dbapi.execute(psql.SQL("truncate {}").format(psql.Identifier("staging", f"latest_{table}")))
    if full:
        conn.exec_driver_sql("update meta.batches set promoted_at = null where promoted_at is not null")
    conn.exec_driver_sql(
        "create temporary table promoting on commit drop as select batch_id, source, entity from meta.batches"
        " where validated_at is not null and promoted_at is null")
    pending = set(conn.exec_driver_sql("select distinct source || '__' || entity from promoting").scalars().all())
    for table in tables:
        if table not in pending:
            continue
        source, _, entity = table.partition("__")
        before = conn.exec_driver_sql("select count(*) from merge_changes").scalar_one()
        dbapi.execute(psql.SQL(template).format(
            latest=psql.Identifier("staging", f"latest_{table}"), table=psql.Identifier("raw", table),
            source=psql.Literal(source), entity=psql.Literal(entity),
        ))
        changed = conn.exec_driver_sql("select count(*) from merge_changes").scalar_one() - before
        size = conn.execute(text("select reltuples from pg_class where oid = to_regclass(:t)"),
                            {"t": f"staging.latest_{table}"}).scalar()
        if changed and (size is None or size < 0 or changed * 10 > size):  # plan with fresh statistics
            dbapi.execute(psql.SQL("analyze {}").format(psql.Identifier("staging", f"latest_{table}")))
    conn.exec_driver_sql("update meta.batches set promoted_at = now()"
                         " where batch_id in (select batch_id from promoting)")
    conn.exec_driver_sql("drop table promoting")
    conn.exec_driver_sql("create index on merge_changes (source, entity, record_id)")
    conn.exec_driver_sql("analyze merge_changes")
    folder = PATHS.sql / "staging"
    for path in sorted(folder.glob("stg_*.sql")) + sorted(folder.glob("int_*.sql")):
        conn.exec_driver_sql(path.read_text())
    return conn.exec_driver_sql("select count(*) from merge_changes").scalar_one()


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
    priorities = {f"{attr}_priority": list(order)
                  for attr, order in (settings.get("survivorship") or {}).items()}
    for attr in ("first_name", "last_name", "company_name", "owner_id", "email", "source_channel"):
        priorities.setdefault(f"{attr}_priority", [])
    changed: dict[str, Any] = {}
    with eng.begin() as conn:
        changed["staging"] = refresh_staging(conn, full)
        changed["core/account.sql"] = run_sql_file(conn, "core/account.sql")
        changed["core/account_identity.sql"] = run_sql_file(conn, "core/account_identity.sql")
        changed["identity"] = vars(identity.resolve(conn, settings))
        if not conn.exec_driver_sql("select to_regclass('pg_temp.identity_records')").scalar():
            conn.execute(text((PATHS.sql / "core" / "identity_records.sql").read_text()), params)
        if changed["identity"]["changed"] > 1000:
            conn.exec_driver_sql("analyze core.person, core.person_identity")
        run_script(conn, (PATHS.sql / "core" / "_scope.sql").read_text())
        changed["core/opportunity.sql"] = run_sql_file(conn, "core/opportunity.sql")
        conn.exec_driver_sql(  # the persons the opportunities now belong to
            "insert into merge_persons select o.person_id from core.opportunity o where o.person_id is not null"
            " and (o.source, o.source_record_id) in (select source, source_record_id from merge_opportunities)")
        changed["scope"] = {
            "records": changed["staging"],
            "persons": conn.exec_driver_sql("select count(distinct person_id) from merge_persons").scalar_one(),
            "opportunities": conn.exec_driver_sql("select count(*) from merge_opportunities").scalar_one(),
        }
        run_script(conn, (PATHS.sql / "core" / "person_records.sql").read_text())
        changed["core/person_attributes.sql"] = run_sql_file(conn, "core/person_attributes.sql", priorities)
        changed["core/campaign.sql"] = run_sql_file(conn, "core/campaign.sql")
        changed["core/activity.sql"] = run_sql_file(conn, "core/activity.sql")
        changed["core/email_event.sql"] = run_sql_file(conn, "core/email_event.sql", params)
        conn.exec_driver_sql(SCOPE_DELETES["touchpoint"])
        changed["core/touchpoint.sql"] = run_sql_file(conn, "core/touchpoint.sql", params)
        for table in SCOPED_REBUILDS:
            conn.exec_driver_sql(SCOPE_DELETES[table])
            changed[f"core/{table}.sql"] = run_sql_file(conn, f"core/{table}.sql")
        snapshots = 0
        for day in snapshot_dates(as_of):
            known = conn.execute(text("select exists (select 1 from core.opportunity_daily where snapshot_date = :d)"),
                                 {"d": day}).scalar()
            if known:
                conn.execute(text(SCOPE_DELETES["opportunity_daily"]), {"d": day})
            snapshots += run_sql_file(conn, "core/opportunity_daily.sql",
                                      {"snapshot_date": day, "all_opportunities": not known})
        changed["core/opportunity_daily.sql"] = snapshots
        if full or changed["staging"] > 10_000:
            conn.exec_driver_sql("analyze " + ", ".join(f"core.{t}" for t in ANALYZED))  # noqa: S608 - constants
    return changed
