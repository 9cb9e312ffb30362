"""KPIs: rebuild each mart from core in one transaction, so BI never sees a half-built mart."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, text

from smarketing.warehouse import run_sql_file

MARTS = ("funnel",)


def refresh_marts(eng: Engine, as_of: date) -> dict[str, int]:
    rows = {}
    with eng.begin() as conn:
        for mart in MARTS:
            conn.execute(text(f"delete from marts.{mart}"))  # noqa: S608 - mart names are the constants above
            rows[mart] = run_sql_file(conn, f"marts/{mart}.sql", {"as_of": as_of})
    return rows


def check_marts(eng: Engine) -> list[str]:
    """Assertions every refresh must satisfy; returns the violations (empty when all hold)."""
    checks = {
        "funnel counts are non-negative": "select count(*) from marts.funnel where least(leads, mqls, sqls,"
        " opportunities, won) < 0 or won_amount < 0",
        "funnel months are unique and contiguous": "select count(*) - (extract(year from age(max(month), min(month)))"
        " * 12 + extract(month from age(max(month), min(month))) + 1) from marts.funnel having count(*) > 0",
    }
    failed = []
    with eng.connect() as conn:
        for name, query in checks.items():
            bad = conn.execute(text(query)).scalar() or 0
            if bad:
                failed.append(f"{name}: {bad} violating rows")
    return failed
