"""KPIs: rebuild every mart from core in one transaction (BI never sees a half-built mart), checked
before it commits (BI never sees a mart that fails its checks either). Settings both departments
agreed on come from ``config/kpis.yaml``."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, text

from smarketing import models
from smarketing.settings import Weekday
from smarketing.warehouse import use_work_mem

log = logging.getLogger(__name__)

CHECKS = {
    "funnel conversions lie within 0..1": """
        select count(*) from marts.funnel
        where least(lead_to_mql_rate, mql_to_sql_rate, sql_to_opportunity_rate, opportunity_to_won_rate) < 0
           or greatest(lead_to_mql_rate, mql_to_sql_rate, sql_to_opportunity_rate, opportunity_to_won_rate) > 1""",
    "won never exceeds opportunities": """
        select count(*) from (select channel from marts.funnel group by channel
                              having sum(won) > sum(opportunities)) as bad""",
    "attribution credit sums to 1 per opportunity in every model": """
        select count(*) from (select opportunity_id from marts.attribution group by opportunity_id
            having abs(sum(first_touch_credit) - 1) > 0.001 or abs(sum(last_touch_credit) - 1) > 0.001
                or abs(sum(linear_credit) - 1) > 0.001 or abs(sum(w_shaped_credit) - 1) > 0.001) as bad""",
    "every marketing-influenced opportunity has attribution credit": """
        select count(*) from marts.pipeline as p where p.is_marketing_influenced
            and not exists (select from marts.attribution as a where a.opportunity_id = p.opportunity_id)""",
    "no negative durations": """
        select (select count(*) from marts.funnel where least(avg_days_lead_to_mql, avg_days_mql_to_sql,
                                                              avg_days_sql_to_won) < 0)
             + (select count(*) from marts.lead_response_time where response_hours < 0)
             + (select count(*) from marts.sales_performance where avg_sales_cycle_days < 0)
             + (select count(*) from marts.customer_segments where recency_days < 0)""",
    "rates and shares lie within 0..1": """
        select (select count(*) from marts.email_performance
                where greatest(delivery_rate, unique_open_rate, click_to_open_rate, bounce_rate, unsubscribe_rate) > 1
                   or least(delivery_rate, unique_open_rate, click_to_open_rate, bounce_rate, unsubscribe_rate) < 0)
             + (select count(*) from marts.sales_performance where win_rate_by_count not between 0 and 1
                                                                or win_rate_by_amount not between 0 and 1)
             + (select count(*) from marts.kpi_summary where share_within_sla not between 0 and 1)""",
}


def kpi_settings(path: Path | None = None) -> dict[str, Any]:
    """``config/kpis.yaml``, validated (``smarketing.settings.KpiSettings``)."""
    from smarketing import settings

    return settings.load("kpis", path=path)


def use_reporting_timezone(conn: Connection, settings: dict[str, Any] | None = None) -> str:
    """Make ``reporting_timezone`` of config/kpis.yaml this transaction's time zone: every day,
    month and as-of cutoff the SQL takes from a timestamp is then the reporting team's (a deal
    won at 00:30 on 1 July in Berlin is July's there, June's in UTC)."""
    zone = (settings if settings is not None else kpi_settings())["reporting_timezone"]
    conn.execute(text("select set_config('TimeZone', :zone, true)"), {"zone": zone})
    return zone


def mart_params(as_of: date, settings: dict[str, Any]) -> dict[str, Any]:
    stages = settings["stage_probabilities"]
    abc = list(settings["abc_thresholds"])
    return {
        "as_of": as_of,
        # the end of the as-of day in the reporting time zone, as a timestamp: what no mart reads beyond
        "cutoff": datetime.combine(as_of + timedelta(days=1), time(), tzinfo=ZoneInfo(settings["reporting_timezone"])),
        "fiscal_start": settings["fiscal_year_start_month"],
        "sla_hours": settings["lead_response_sla_hours"],
        **business_hours_params(settings),
        "lookback_days": settings["attribution_lookback_days"],
        "marketing_channels": list(settings["marketing_channels"]),
        "stage_names": list(stages),
        "stage_probabilities": [float(v) for v in stages.values()],
        "abc_a": float(abc[0]),
        "abc_b": float(abc[1]),
        "reporting_currency": settings["reporting_currency"],
    }


WEEKDAYS: tuple[str, ...] = get_args(Weekday)  # Mon..Sun: ISO day numbers 1..7


def business_hours_params(settings: dict[str, Any]) -> dict[str, Any]:
    """The lead-response calendar as bind parameters; ``bh_on`` false counts calendar hours."""
    calendar = settings.get("lead_response_business_hours")
    if calendar is None:
        return {"bh_on": False, "bh_days": [], "bh_start": "00:00", "bh_end": "24:00",
                "bh_timezone": settings["reporting_timezone"], "bh_holidays": []}
    return {"bh_on": True, "bh_days": [WEEKDAYS.index(d) + 1 for d in calendar["days"]],
            "bh_start": calendar["start"], "bh_end": calendar["end"],
            "bh_timezone": calendar["timezone"] or settings["reporting_timezone"],
            "bh_holidays": list(calendar["holidays"])}


def refresh_marts(eng: Engine, as_of: date, settings: dict[str, Any] | None = None) -> dict[str, int]:
    """Every model of ``sql/marts`` written again (in the order their reads give); rows per mart."""
    settings = settings if settings is not None else kpi_settings()
    params = mart_params(as_of, settings)
    marts = models.load("marts")
    with eng.begin() as conn:
        use_reporting_timezone(conn, settings)
        use_work_mem(conn)  # the marts' aggregates over every email event and touch stay in memory
        rows = models.run(conn, marts, params)
        unstaged = conn.execute(text("select count(*) from as_of_opportunities"  # sql/marts/as_of_opportunities.sql
                                     " where not is_closed and stage_name is null")).scalar()
        if unstaged:  # their stage now (Closed Won, 100 %) would tell the outcome
            log.warning("%s deals open on %s closed later and have no stage history before then: open in an"
                        " unknown stage, weighted 0 in the forecast", unstaged, as_of.isoformat())
        violations = _violations(conn)
        if violations:  # raised inside the transaction: the marts of the last good refresh stay published
            raise MartCheckError("the refreshed marts fail their checks, so the last good ones stay published: "
                                 + "; ".join(violations), violations)
        orphans = set(conn.execute(text("select tablename from pg_tables where schemaname = 'marts'")).scalars())
        orphans -= {m.target.partition(".")[2] for m in marts}
    rows = {m.name: rows[m.name] for m in marts if not m.is_temp}  # not the tables the marts share
    if orphans:  # BI may still read them: left in place, and said
        log.warning("marts %s have no model in sql/marts/ any more and were not refreshed: drop them when no"
                    " report reads them", ", ".join(sorted(f"marts.{t}" for t in orphans)))
    return rows


class MartCheckError(RuntimeError):
    """A refresh whose marts fail ``CHECKS``; nothing of it was published. Not retried: the same
    core gives the same marts."""

    def __init__(self, message: str, violations: list[str]) -> None:
        super().__init__(message)
        self.violations = violations


def check_marts(eng: Engine) -> list[str]:
    """Assertions every refresh must satisfy; returns the violations (empty when all hold)."""
    with eng.connect() as conn:
        return _violations(conn)


def _violations(conn: Connection) -> list[str]:
    failed = []
    for name, query in CHECKS.items():
        bad = conn.execute(text(query)).scalar() or 0
        if bad:
            failed.append(f"{name}: {bad} violating rows")
    return failed
