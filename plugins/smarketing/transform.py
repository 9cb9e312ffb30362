"""Transform: refresh the staging views, then merge into core with set-based SQL.

The whole merge runs in one transaction: a failure leaves core as it was. Tables derived
entirely from others (stage history, lifecycle, consent) are rebuilt inside it; the rest are
upserts that only touch rows whose values changed, so a rerun changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from psycopg import sql as psql
from sqlalchemy import Connection, Engine, text

from smarketing import identity
from smarketing.config import PATHS
from smarketing.warehouse import run_sql_file

# Rebuilt whole each run, in this order, after identity resolution.
REBUILT = ("opportunity_stage_history", "lifecycle_event", "person_lifecycle_history", "consent")
# Month-end pipeline snapshots kept back from the as-of date (for forecast accuracy).
SNAPSHOT_MONTHS = 12


def apply_staging_views(conn: Connection) -> list[str]:
    """Create or replace every staging view: a latest-version view per raw table (from
    ``sql/staging/_latest.sql``), then the source views (stg_*), then the ones built on them (int_*)."""
    template = (PATHS.sql / "staging" / "_latest.sql").read_text()
    tables = conn.exec_driver_sql(
        "select table_name from information_schema.tables where table_schema = 'raw' order by table_name"
    ).scalars().all()
    dbapi = conn.connection.driver_connection
    for table in tables:
        source, _, entity = table.partition("__")
        dbapi.execute(psql.SQL(template).format(
            view=psql.Identifier(f"latest_{table}"), table=psql.Identifier(table),
            source=psql.Literal(source), entity=psql.Literal(entity),
        ))
    folder = PATHS.sql / "staging"
    files = sorted(folder.glob("stg_*.sql")) + sorted(folder.glob("int_*.sql"))
    for path in files:
        conn.exec_driver_sql(path.read_text())
    return [p.stem for p in files]


def snapshot_dates(as_of: date, months: int = SNAPSHOT_MONTHS) -> list[date]:
    """The as-of date and the last day of each of the ``months`` months before it."""
    dates = [as_of]
    month_start = as_of.replace(day=1)
    for _ in range(months):
        month_end = month_start - timedelta(days=1)
        dates.append(month_end)
        month_start = month_end.replace(day=1)
    return dates


def merge_core(eng: Engine, as_of: date, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve identities and bring core up to date; return what changed per step."""
    settings = settings if settings is not None else identity.identity_settings()
    params = identity.sql_params(settings)
    priorities = {f"{attr}_priority": list(order)
                  for attr, order in (settings.get("survivorship") or {}).items()}
    for attr in ("first_name", "last_name", "company_name", "owner_id", "email", "source_channel"):
        priorities.setdefault(f"{attr}_priority", [])
    changed: dict[str, Any] = {}
    with eng.begin() as conn:
        apply_staging_views(conn)
        changed["core/account.sql"] = run_sql_file(conn, "core/account.sql")
        changed["core/account_identity.sql"] = run_sql_file(conn, "core/account_identity.sql")
        changed["identity"] = vars(identity.resolve(conn, settings))
        if not conn.exec_driver_sql("select to_regclass('pg_temp.identity_records')").scalar():
            conn.execute(text((PATHS.sql / "core" / "identity_records.sql").read_text()), params)
        changed["core/opportunity.sql"] = run_sql_file(conn, "core/opportunity.sql")
        changed["core/person_attributes.sql"] = run_sql_file(conn, "core/person_attributes.sql", priorities)
        changed["core/campaign.sql"] = run_sql_file(conn, "core/campaign.sql")
        changed["core/activity.sql"] = run_sql_file(conn, "core/activity.sql")
        changed["core/email_event.sql"] = run_sql_file(conn, "core/email_event.sql", params)
        changed["core/touchpoint.sql"] = run_sql_file(conn, "core/touchpoint.sql", params)
        for table in REBUILT:
            conn.exec_driver_sql(f"delete from core.{table}")  # noqa: S608 - constant names
            changed[f"core/{table}.sql"] = run_sql_file(conn, f"core/{table}.sql")
        snapshots = 0
        for day in snapshot_dates(as_of):
            conn.execute(text("delete from core.opportunity_daily where snapshot_date = :d"), {"d": day})
            snapshots += run_sql_file(conn, "core/opportunity_daily.sql", {"snapshot_date": day})
        changed["core/opportunity_daily.sql"] = snapshots
    return changed
