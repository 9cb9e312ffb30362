"""Transform: refresh the staging views, then merge into core with set-based SQL.

The merge runs in one transaction: a failure leaves core as it was.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from smarketing.config import PATHS
from smarketing.warehouse import run_sql_file

# Order matters: persons before their identities, opportunities before customer dates.
CORE_STEPS = ("core/person.sql", "core/person_identity.sql", "core/opportunity.sql", "core/person_attributes.sql")


def apply_staging_views(conn: Connection) -> list[str]:
    """Create or replace every staging view: source views (stg_*) first, then the ones built on them."""
    folder = PATHS.sql / "staging"
    files = sorted(folder.glob("stg_*.sql")) + sorted(folder.glob("int_*.sql"))
    for path in files:
        conn.exec_driver_sql(path.read_text())
    return [p.stem for p in files]


def merge_core(eng: Engine) -> dict[str, int]:
    """Resolve identities and upsert core; return rows changed per step."""
    changed = {}
    with eng.begin() as conn:
        apply_staging_views(conn)
        for step in CORE_STEPS:
            changed[step] = run_sql_file(conn, step)
    return changed
