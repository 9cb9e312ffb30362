"""The KPI report: one self-contained HTML page per as-of date (``reports/kpis_<as_of>.html``),
read from the marts the KPI run just published, for the people of both departments.

Self-contained means no network: the charts are matplotlib SVG inlined in the page, the styles
sit in it, and nothing is fetched, so the page reads the same offline, as an e-mail attachment and
on a phone. Every figure names the mart it comes from and carries that mart's definition from
``docs/kpis.md``. The tables carry the raw values (``data-value``) beside the formatted ones.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from smarketing import __version__
from smarketing.paths import PATHS, ConfigError

log = logging.getLogger(__name__)
# matplotlib speaks at INFO about fonts and category axes on every run; only its warnings matter here
logging.getLogger("matplotlib").setLevel(logging.WARNING)

MONTHS_SHOWN = 12
KPI_DOCS = PATHS.root / "docs" / "kpis.md"


class ReportError(ConfigError):
    """The report cannot be written as asked (marts of another as-of date, none at all)."""


class ReportPathError(ReportError):
    """The place the report should go cannot take it (a folder, a device, a link, no permission)."""


# -- what the page shows ---------------------------------------------------------------------------


@dataclass
class Column:
    name: str
    label: str
    kind: str = "int"  # int, money, rate, number, text, month, date


@dataclass
class Table:
    mart: str
    key: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    caption: str = ""


@dataclass
class Section:
    id: str
    title: str
    question: str
    marts: list[str]
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fmt(value: Any, kind: str, currency: str) -> str:
    if value is None:
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{float(value):,.0f} {currency}"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "number":
        return f"{float(value):,.1f}"
    if kind == "month":
        return value.strftime("%b %Y")
    if kind == "date":
        return value.isoformat()
    return str(value)


def _raw(value: Any) -> str:
    """The value as the test and a script read it back: ISO dates, plain decimals, '' for null."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


# -- charts ----------------------------------------------------------------------------------------

PALETTE = ["#1f5f8b", "#e07b39", "#3a9a5b", "#b8404a", "#7a5ba6", "#8c6d31", "#4aa3b5", "#999999"]


class Chart:
    """A matplotlib figure rendered to inline SVG. Every data artist gets an id ``<chart>-mark-<n>``,
    so a browser test can count the marks drawn; text stays text (``svg.fonttype: none``)."""

    def __init__(self, chart_id: str, title: str, height: float = 3.2) -> None:
        from matplotlib.figure import Figure

        self.id, self.title, self._marks = chart_id, title, 0
        self.figure = Figure(figsize=(7.2, height), layout="constrained")
        self.ax = self.figure.add_subplot()
        self.ax.set_title(title, loc="left", fontsize=11)
        for side in ("top", "right"):
            self.ax.spines[side].set_visible(False)
        self.ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
        self.ax.set_axisbelow(True)

    def mark(self, *artists: Any) -> None:
        for group in artists:
            for artist in (group if isinstance(group, Sequence) or hasattr(group, "patches") else [group]):
                self._marks += 1
                artist.set_gid(f"{self.id}-mark-{self._marks}")

    def svg(self) -> str:
        import matplotlib

        buffer = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": self.id, "font.size": 9}), \
                warnings.catch_warnings():
            # text stays text, drawn by the browser's fonts: a glyph matplotlib's own font lacks is no loss
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            self.figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        svg = buffer.getvalue()
        svg = svg[svg.index("<svg"):]
        # scale with the page: the viewBox stays, the fixed size goes
        svg = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 width="100%"', svg, count=1)
        return svg.replace("<svg", f'<svg role="img" aria-label="{self.title}" class="chart" id="{self.id}"', 1)


def _short(label: Any, width: int = 32) -> str:
    """A category label a chart can hold (the table beside it has the whole name)."""
    label = str(label)
    return label if len(label) <= width else label[: width - 1] + "…"


def _month_axis(chart: Chart, months: list[date]) -> list[str]:
    labels = [m.strftime("%b %y") for m in months]
    chart.ax.tick_params(axis="x", labelrotation=45)
    return labels


def _money_axis(chart: Chart, currency: str) -> None:
    from matplotlib.ticker import FuncFormatter

    chart.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    chart.ax.set_ylabel(currency)


def _grouped_bars(chart: Chart, labels: list[str], series: dict[str, list[float]], horizontal: bool = False) -> None:
    import numpy as np

    labels = [_short(label) for label in labels]
    positions = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        offset = positions - 0.4 + width * (i + 0.5)
        draw = chart.ax.barh if horizontal else chart.ax.bar
        bars = draw(offset, values, width, label=name, color=PALETTE[i % len(PALETTE)])
        chart.mark(bars)
    if horizontal:
        chart.ax.set_yticks(positions, labels)
        chart.ax.invert_yaxis()
        chart.ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
        chart.ax.grid(axis="y", visible=False)
    else:
        chart.ax.set_xticks(positions, labels)
    if len(series) > 1:
        chart.ax.legend(frameon=False, fontsize=8)


def _rate_bars(chart_id: str, title: str, labels: list[str], series: dict[str, list[float]],
               height: float = 3.2) -> str:
    """Horizontal bars of shares (0..1), one group per label, as percentages."""
    from matplotlib.ticker import PercentFormatter

    chart = Chart(chart_id, title, height=height)
    _grouped_bars(chart, labels, series, horizontal=True)
    chart.ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    return chart.svg()


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


# -- sections --------------------------------------------------------------------------------------


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def _headline(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, "select * from marts.kpi_summary where month = :month", p)
    columns = [Column("leads", "Leads"), Column("mqls", "MQLs"), Column("sqls", "SQLs"), Column("won", "Won deals"),
               Column("won_amount", "Won amount", "money"), Column("win_rate", "Win rate", "rate"),
               Column("mql_to_sql_rate", "MQL → SQL", "rate"),
               Column("median_response_hours", "Median lead response (business h)" if p["bh_on"]
                      else "Median lead response (h)", "number"),
               Column("share_within_sla", "Within SLA", "rate"),
               Column("marketing_sourced_pipeline", "Marketing-sourced pipeline", "money"),
               Column("marketing_influenced_pipeline", "Marketing-influenced pipeline", "money"),
               Column("mql_growth", "MQL growth on the month before", "rate")]
    return Section("headline", f"{p['month']:%B %Y} at a glance", "The month's headline KPIs.",
                   ["marts.kpi_summary"], tables=[Table("marts.kpi_summary", "month", columns, rows)])


def _funnel(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, """
        select channel, sum(leads) as leads, sum(mqls) as mqls, sum(sqls) as sqls,
               sum(opportunities) as opportunities, sum(won) as won, sum(won_amount) as won_amount,
               round(sum(lead_to_mql_rate * leads) / nullif(sum(leads), 0), 4) as lead_to_mql_rate,
               round(sum(mql_to_sql_rate * mqls) / nullif(sum(mqls), 0), 4) as mql_to_sql_rate,
               round(sum(sql_to_opportunity_rate * sqls) / nullif(sum(sqls), 0), 4) as sql_to_opportunity_rate,
               round(sum(opportunity_to_won_rate * opportunities) / nullif(sum(opportunities), 0), 4)
                   as opportunity_to_won_rate,
               round(sum(lead_to_won_rate * leads) / nullif(sum(leads), 0), 4) as lead_to_won_rate,
               round(sum(mql_to_won_rate * mqls) / nullif(sum(mqls), 0), 4) as mql_to_won_rate
        from marts.funnel where month between :first_month and :month
        group by channel order by channel <> 'all', sum(leads) desc, channel""", p)
    columns = [Column("channel", "Channel", "text"), Column("leads", "Leads"), Column("mqls", "MQLs"),
               Column("sqls", "SQLs"), Column("opportunities", "Opps"), Column("won", "Won"),
               Column("won_amount", "Won amount", "money"),
               Column("lead_to_mql_rate", "Lead → MQL", "rate"), Column("mql_to_sql_rate", "MQL → SQL", "rate"),
               Column("sql_to_opportunity_rate", "SQL → Opp", "rate"),
               Column("opportunity_to_won_rate", "Opp → Won", "rate"),
               Column("lead_to_won_rate", "Lead → Won", "rate"), Column("mql_to_won_rate", "MQL → Won", "rate")]
    section = Section(
        "funnel", "Funnel by channel", "How many people reach each stage, and how well does each stage convert?",
        ["marts.funnel"], tables=[Table("marts.funnel", "channel", columns, rows)],
        notes=["Counts are the sums of the window's months. Rates are cohort rates: each month's rate weighted by"
               " its cohort (the month's leads, MQLs, SQLs or opportunities)."])
    passed = _rows(conn, """
        select sum(leads_passed_through) as leads, sum(mqls_passed_through) as mqls, sum(sqls_passed_through) as sqls
        from marts.funnel where channel = 'all' and month between :first_month and :month""", p)
    skipped = [f"{n:,.0f} {one if n == 1 else many}" for n, one, many in (
        (_num(passed[0]["leads"]), "lead had no lead date", "leads had no lead date"),
        (_num(passed[0]["mqls"]), "MQL was never marked MQL", "MQLs were never marked MQL"),
        (_num(passed[0]["sqls"]), "SQL was never converted", "SQLs were never converted")) if n] if passed else []
    if skipped:
        section.notes.append("Skipped stages count as passed through at the later stage's time: of the window's"
                             f" people, {', '.join(skipped)}.")
    total = next((r for r in rows if r["channel"] == "all"), None)
    if total and total["leads"]:
        chart = Chart("chart-funnel", "People reaching each stage (all channels)")
        stages = ["leads", "mqls", "sqls", "opportunities", "won"]
        values = [_num(total[s]) for s in stages]
        bars = chart.ax.barh(["Leads", "MQLs", "SQLs", "Opportunities", "Won"], values, color=PALETTE[0])
        chart.mark(bars)
        chart.ax.invert_yaxis()
        chart.ax.grid(axis="y", visible=False)
        for bar, value in zip(bars, values, strict=True):
            chart.ax.annotate(f"{value:,.0f}", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                              xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
        section.charts.append(chart.svg())
        channels = [r for r in rows if r["channel"] != "all" and r["leads"]]
        if channels:
            section.charts.append(_rate_bars(
                "chart-funnel-channels", "Lead → MQL and lead → won by channel", [r["channel"] for r in channels],
                {"Lead → MQL": [_num(r["lead_to_mql_rate"]) for r in channels],
                 "Lead → Won": [_num(r["lead_to_won_rate"]) for r in channels]}))
    return section


def _trend(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, "select month, leads, mqls, sqls, opportunities, won, won_amount from marts.funnel"
                       " where channel = 'all' and month between :first_month and :month order by month", p)
    columns = [Column("month", "Month", "month"), Column("leads", "Leads"), Column("mqls", "MQLs"),
               Column("sqls", "SQLs"), Column("opportunities", "Opps"), Column("won", "Won"),
               Column("won_amount", "Won amount", "money")]
    section = Section("trend", "Monthly trend", "Are leads, MQLs, SQLs and won deals growing?", ["marts.funnel"],
                      tables=[Table("marts.funnel", "month", columns, rows, caption="all channels")])
    if rows:
        chart = Chart("chart-trend", "Leads, MQLs, SQLs and won deals per month")
        labels = _month_axis(chart, [r["month"] for r in rows])
        for i, (name, label) in enumerate((("leads", "Leads"), ("mqls", "MQLs"), ("sqls", "SQLs"), ("won", "Won"))):
            line = chart.ax.plot(labels, [_num(r[name]) for r in rows], marker="o", markersize=3,
                                 color=PALETTE[i], label=label)
            chart.mark(line)
        chart.ax.legend(frameon=False, fontsize=8, ncols=4)
        section.charts.append(chart.svg())
    return section


def _response(conn: Connection, p: dict[str, Any]) -> Section:
    from smarketing.kpis import WEEKDAYS

    rows = _rows(conn, """
        select mql_month, count(*) as mqls, count(first_activity_at) as responded,
               count(*) filter (where is_within_sla) as within_sla,
               round(avg(is_within_sla::int), 4) as share_within_sla,
               round(cast(percentile_cont(0.5) within group (order by coalesce(response_business_hours, response_hours))
                          as numeric), 1) as median_hours
        from marts.lead_response_time where mql_month between :first_month and :month
        group by mql_month order by mql_month""", p)
    columns = [Column("mql_month", "MQL month", "month"), Column("mqls", "MQLs"), Column("responded", "Responded"),
               Column("within_sla", "Within SLA"), Column("share_within_sla", "Share within SLA", "rate"),
               Column("median_hours", "Median hours" + (" (business)" if p["bh_on"] else ""), "number")]
    sla = p["sla_hours"]
    holidays = f", not on {', '.join(d.isoformat() for d in p['bh_holidays'])}" if p["bh_holidays"] else ""
    hours = (f"business hours ({', '.join(WEEKDAYS[d - 1] for d in p['bh_days'])} {p['bh_start']}-{p['bh_end']}"
             f" {p['bh_timezone']}{holidays})" if p["bh_on"] else "calendar hours (nights and weekends count)")
    section = Section("response", "Lead response against the SLA",
                      f"How fast does sales follow up an MQL? SLA: first activity within {sla} {hours}.",
                      ["marts.lead_response_time"],
                      tables=[Table("marts.lead_response_time", "mql_month", columns, rows)],
                      notes=["No response yet counts as outside the SLA."])
    if rows:
        chart = Chart("chart-response", f"Share of MQLs answered within {sla} h")
        labels = _month_axis(chart, [r["mql_month"] for r in rows])
        chart.mark(chart.ax.bar(labels, [_num(r["share_within_sla"]) for r in rows], color=PALETTE[2]))
        from matplotlib.ticker import PercentFormatter

        chart.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        chart.ax.set_ylim(0, 1)
        section.charts.append(chart.svg())
    return section


def _pipeline(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, """
        select created_month, count(*) as opportunities, sum(amount) as pipeline,
               coalesce(sum(amount) filter (where is_marketing_sourced), 0) as sourced,
               coalesce(sum(amount) filter (where is_marketing_influenced), 0) as influenced,
               coalesce(sum(amount) filter (where is_won), 0) as won
        from marts.pipeline where created_month between :first_month and :month
        group by created_month order by created_month""", p)
    columns = [Column("created_month", "Created", "month"), Column("opportunities", "Opps"),
               Column("pipeline", "Pipeline", "money"), Column("sourced", "Marketing-sourced", "money"),
               Column("influenced", "Marketing-influenced", "money"), Column("won", "Won", "money")]
    section = Section("pipeline", "Marketing-sourced and -influenced pipeline",
                      "How much pipeline does marketing source and influence?", ["marts.pipeline"],
                      tables=[Table("marts.pipeline", "created_month", columns, rows)])
    if rows:
        chart = Chart("chart-pipeline", "Pipeline created per month")
        labels = _month_axis(chart, [r["created_month"] for r in rows])
        _grouped_bars(chart, labels, {"All": [_num(r["pipeline"]) for r in rows],
                                      "Marketing-sourced": [_num(r["sourced"]) for r in rows],
                                      "Marketing-influenced": [_num(r["influenced"]) for r in rows]})
        chart.ax.tick_params(axis="x", labelrotation=45)
        _money_axis(chart, p["currency"])
        section.charts.append(chart.svg())
    return section


def _attribution(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, """
        select a.channel, count(distinct a.opportunity_id) as opportunities,
               round(sum(a.opportunity_amount * a.first_touch_credit), 2) as first_touch,
               round(sum(a.opportunity_amount * a.last_touch_credit), 2) as last_touch,
               round(sum(a.opportunity_amount * a.linear_credit), 2) as linear,
               round(sum(a.opportunity_amount * a.w_shaped_credit), 2) as w_shaped,
               round(coalesce(sum(a.opportunity_amount * a.w_shaped_credit) filter (where a.is_won), 0), 2)
                   as won_w_shaped
        from marts.attribution as a join marts.pipeline as p using (opportunity_id)
        where p.created_month between :first_month and :month
        group by 1 order by w_shaped desc nulls last, channel""", p)
    columns = [Column("channel", "Channel", "text"), Column("opportunities", "Opps touched"),
               Column("first_touch", "First touch", "money"), Column("last_touch", "Last touch", "money"),
               Column("linear", "Linear", "money"), Column("w_shaped", "W-shaped", "money"),
               Column("won_w_shaped", "Won revenue (W-shaped)", "money")]
    section = Section("attribution", "Attribution by channel",
                      "Which channels earn credit for the pipeline, under each model?", ["marts.attribution"],
                      tables=[Table("marts.attribution", "channel", columns, rows)],
                      notes=["Credited pipeline: each opportunity's amount times the credit of a campaign, or of"
                             " a channel for touches without a campaign (form submissions), for"
                             " opportunities created in the window."])
    if rows:
        chart = Chart("chart-attribution", "Credited pipeline by channel and model",
                      height=max(2.6, 0.7 * len(rows) + 1.2))
        _grouped_bars(chart, [r["channel"] for r in rows],
                      {"First touch": [_num(r["first_touch"]) for r in rows],
                       "Last touch": [_num(r["last_touch"]) for r in rows],
                       "Linear": [_num(r["linear"]) for r in rows],
                       "W-shaped": [_num(r["w_shaped"]) for r in rows]}, horizontal=True)
        from matplotlib.ticker import FuncFormatter

        chart.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        section.charts.append(chart.svg())
    return section


def _forecast(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, "select month, open_pipeline, weighted_pipeline, forecast_at_month_start, actual_won,"
                       " forecast_accuracy, wape_12_months from marts.forecast order by month", p)
    columns = [Column("month", "Month", "month"), Column("open_pipeline", "Open pipeline", "money"),
               Column("weighted_pipeline", "Weighted", "money"),
               Column("forecast_at_month_start", "Forecast at month start", "money"),
               Column("actual_won", "Actual won", "money"), Column("forecast_accuracy", "Accuracy", "rate"),
               Column("wape_12_months", "Error over 12 months (WAPE)", "rate")]
    section = Section("forecast", "Weighted forecast against actuals",
                      "What will close, and how good were past forecasts?", ["marts.forecast"],
                      tables=[Table("marts.forecast", "month", columns, rows)])
    if rows:
        chart = Chart("chart-forecast", "Forecast at month start, actual won, weighted open pipeline")
        labels = _month_axis(chart, [r["month"] for r in rows])
        _grouped_bars(chart, labels, {"Actual won": [_num(r["actual_won"]) for r in rows],
                                      "Weighted open pipeline": [_num(r["weighted_pipeline"]) for r in rows]})
        chart.ax.tick_params(axis="x", labelrotation=45)
        line = chart.ax.plot(labels, [r["forecast_at_month_start"] and float(r["forecast_at_month_start"])
                                      for r in rows], color=PALETTE[3], marker="o", markersize=3,
                             label="Forecast at month start")
        chart.mark(line)
        chart.ax.legend(frameon=False, fontsize=8)
        _money_axis(chart, p["currency"])
        section.charts.append(chart.svg())
    return section


def _sales(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, "select owner_id || ' / ' || segment as key, owner_name, segment, closed_opportunities,"
                       " won_opportunities, win_rate_by_count, win_rate_by_amount, avg_deal_size, avg_sales_cycle_days"
                       " from marts.sales_performance order by closed_opportunities desc, owner_name, segment", p)
    columns = [Column("owner_name", "Owner", "text"), Column("segment", "Segment", "text"),
               Column("closed_opportunities", "Closed"), Column("won_opportunities", "Won"),
               Column("win_rate_by_count", "Win rate", "rate"),
               Column("win_rate_by_amount", "Win rate (amount)", "rate"), Column("avg_deal_size", "Avg deal", "money"),
               Column("avg_sales_cycle_days", "Sales cycle (days)", "number")]
    section = Section("sales", "Win rate and sales cycle by owner and segment",
                      "Who wins how often, how big, and how fast?", ["marts.sales_performance"],
                      tables=[Table("marts.sales_performance", "key", columns, rows)],
                      notes=["Over all deals closed by the as-of date."])
    shown = rows[:15]
    if shown:
        section.charts.append(_rate_bars(
            "chart-sales", "Win rate by owner and segment", [f"{r['owner_name']} · {r['segment']}" for r in shown],
            {"Win rate": [_num(r["win_rate_by_count"]) for r in shown]}, height=max(2.4, 0.35 * len(shown) + 1)))
    return section


def _segments(conn: Connection, p: dict[str, Any]) -> Section:
    abc = _rows(conn, "select abc_class, count(*) as customers, sum(revenue) as revenue from marts.customer_segments"
                      " group by abc_class order by abc_class", p)
    rfm = _rows(conn, "select rfm_segment, count(*) as customers, sum(revenue) as revenue"
                      " from marts.customer_segments group by rfm_segment order by count(*) desc, rfm_segment", p)
    section = Section(
        "segments", "Customers by ABC class and RFM segment", "Which customers bring the revenue, and who is slipping?",
        ["marts.customer_segments"],
        tables=[Table("marts.customer_segments", "abc_class",
                      [Column("abc_class", "ABC class", "text"), Column("customers", "Customers"),
                       Column("revenue", "Revenue", "money")], abc),
                Table("marts.customer_segments", "rfm_segment",
                      [Column("rfm_segment", "RFM segment", "text"), Column("customers", "Customers"),
                       Column("revenue", "Revenue", "money")], rfm)])
    if abc:
        chart = Chart("chart-abc", "Revenue by ABC class", height=2.6)
        chart.mark(chart.ax.bar([r["abc_class"] for r in abc], [_num(r["revenue"]) for r in abc], color=PALETTE[0]))
        _money_axis(chart, p["currency"])
        section.charts.append(chart.svg())
        chart = Chart("chart-rfm", "Customers by RFM segment", height=2.6)
        _grouped_bars(chart, [r["rfm_segment"] for r in rfm], {"Customers": [_num(r["customers"]) for r in rfm]},
                      horizontal=True)
        section.charts.append(chart.svg())
    return section


def _email(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, "select campaign_id, campaign_name, sent, delivered, unique_opens, unique_clicks, bounces,"
                       " unsubscribes, delivery_rate, unique_open_rate, click_to_open_rate, bounce_rate,"
                       " unsubscribe_rate from marts.email_performance order by sent desc, campaign_name", p)
    columns = [Column("campaign_name", "Campaign", "text"), Column("sent", "Sent"), Column("delivered", "Delivered"),
               Column("unique_opens", "Opens"), Column("unique_clicks", "Clicks"), Column("bounces", "Bounces"),
               Column("unsubscribes", "Unsubscribes"), Column("delivery_rate", "Delivery", "rate"),
               Column("unique_open_rate", "Open rate", "rate"), Column("click_to_open_rate", "Click-to-open", "rate"),
               Column("bounce_rate", "Bounce rate", "rate"), Column("unsubscribe_rate", "Unsub. rate", "rate")]
    section = Section("email", "Email performance", "Which emails reach, get opened and get clicked?",
                      ["marts.email_performance"],
                      tables=[Table("marts.email_performance", "campaign_id", columns, rows)])
    shown = rows[:12]
    if shown:
        section.charts.append(_rate_bars(
            "chart-email", "Open rate and click-to-open rate", [str(r["campaign_name"]) for r in shown],
            {"Open rate": [_num(r["unique_open_rate"]) for r in shown],
             "Click-to-open": [_num(r["click_to_open_rate"]) for r in shown]}, height=max(2.4, 0.45 * len(shown) + 1)))
    return section


def _nurture(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, """
        select distinct on (program) program, as_of, members, added, removed, eligible, suppressed, suppressed_reasons
        from nurture.list_runs where as_of <= :as_of order by program, as_of desc""", p)
    reasons = sorted({reason for r in rows for reason in (r["suppressed_reasons"] or {})})
    for row in rows:
        why = row["suppressed_reasons"] or {}
        row["suppressed_by_reason"] = ", ".join(f"{reason} {n}" for reason, n in sorted(why.items()))
    columns = [Column("program", "Program", "text"), Column("as_of", "List as of", "date"),
               Column("members", "Members"), Column("added", "Joined"), Column("removed", "Left"),
               Column("eligible", "Eligible"), Column("suppressed", "Suppressed"),
               Column("suppressed_by_reason", "Suppressed by reason", "text")]
    section = Section("nurture", "After-sales nurture lists",
                      "How many customers each program reaches, who joined and left, who is kept off and why.",
                      ["nurture.list_runs"], tables=[Table("nurture.list_runs", "program", columns, rows)],
                      notes=["Each program's latest list up to the as-of date (the nurture DAG runs after the KPIs)."])
    if rows:
        chart = Chart("chart-nurture", "Members and suppressed people per program", height=3.0)
        programs = [r["program"] for r in rows]
        chart.mark(chart.ax.barh(programs, [r["members"] for r in rows], color=PALETTE[2], label="members"))
        left = [float(r["members"]) for r in rows]
        for i, reason in enumerate(reasons):
            values = [float((r["suppressed_reasons"] or {}).get(reason, 0)) for r in rows]
            chart.mark(chart.ax.barh(programs, values, left=left, color=PALETTE[(i + 3) % len(PALETTE)],
                                     label=f"suppressed: {reason}"))
            left = [a + b for a, b in zip(left, values, strict=True)]
        chart.ax.invert_yaxis()
        chart.ax.grid(axis="y", visible=False)
        chart.ax.legend(frameon=False, fontsize=8)
        section.charts.append(chart.svg())
    return section


def _quality(conn: Connection, p: dict[str, Any]) -> Section:
    rows = _rows(conn, """
        with latest as (select run_id from meta.dq_results where suite <> 'core'
                        order by evaluated_at desc limit 1)
        select suite, count(*) as checks,
               count(*) filter (where not success and severity = 'critical') as critical_failing,
               count(*) filter (where not success and severity <> 'critical') as warnings,
               sum(rows_quarantined) as rows_quarantined
        from meta.dq_results where run_id = (select run_id from latest) and suite <> 'core'
        group by suite order by suite""", p)
    core = _rows(conn, """
        select check_name, unexpected_count, element_count from meta.dq_results where suite = 'core'
           and run_id = (select run_id from meta.dq_results where suite = 'core' order by evaluated_at desc limit 1)
        order by check_name""", p)
    section = Section(
        "quality", "Data quality", "Can the numbers above be trusted? The latest validation and cross-entity checks.",
        ["meta.dq_results"],
        tables=[Table("meta.dq_results", "suite",
                      [Column("suite", "Suite", "text"), Column("checks", "Checks"),
                       Column("critical_failing", "Critical failing"), Column("warnings", "Warnings"),
                       Column("rows_quarantined", "Rows quarantined")], rows, caption="latest validation run"),
                Table("meta.dq_results", "check_name",
                      [Column("check_name", "Cross-entity check on core", "text"),
                       Column("unexpected_count", "Violations"), Column("element_count", "Of")], core,
                      caption="latest merge")],
        notes=["Critical failures are quarantined with their reason (`quarantine.records`); warnings load."])
    unconverted = _rows(conn, """
        select deal_currency, count(*) as deals from core.opportunity
        where amount is null and deal_amount is not null group by deal_currency order by deal_currency""", p)
    if unconverted:  # the run's quality gate failed on them; the figures above leave their amounts out
        section.notes.append(
            "Deals without an exchange rate into " + p["currency"] + ", in no sum above: "
            + ", ".join(f"{r['deals']} in {r['deal_currency']}" for r in unconverted)
            + " (config/kpis.yaml exchange_rates, an exchange_rates file drop, or the CRM's rates).")
    if rows:
        chart = Chart("chart-quality", "Checks per suite: passing and failing", height=max(2.4, 0.3 * len(rows) + 1))
        passing = [float(r["checks"] - r["critical_failing"] - r["warnings"]) for r in rows]
        suites = [r["suite"] for r in rows]
        chart.mark(chart.ax.barh(suites, passing, color=PALETTE[2], label="passing"))
        chart.mark(chart.ax.barh(suites, [float(r["warnings"]) for r in rows], left=passing, color=PALETTE[1],
                                 label="warning"))
        chart.mark(chart.ax.barh(suites, [float(r["critical_failing"]) for r in rows],
                                 left=[a + float(r["warnings"]) for a, r in zip(passing, rows, strict=True)],
                                 color=PALETTE[3], label="critical"))
        chart.ax.invert_yaxis()
        chart.ax.grid(axis="y", visible=False)
        chart.ax.legend(frameon=False, fontsize=8)
        section.charts.append(chart.svg())
    return section


SECTIONS: list[Callable[[Connection, dict[str, Any]], Section]] = [
    _headline, _funnel, _trend, _response, _pipeline, _attribution, _forecast, _sales, _segments, _email,
    _nurture, _quality,
]


# -- definitions from docs/kpis.md -----------------------------------------------------------------


def definitions(path: Path = KPI_DOCS) -> dict[str, str]:
    """Each mart's definition from the KPI catalog: the prose under its heading, before the table."""
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"### ((?:marts|nurture)\.\w+)", line)
        if heading:
            current = heading.group(1)
            found[current] = ""
        elif line.startswith("#"):
            current = None
        elif current and not line.startswith("|") and line.strip():
            found[current] += line.strip() + " "
    return {mart: prose.strip() for mart, prose in found.items()}


def anchor(mart: str) -> str:
    """GitHub's anchor for the catalog's ``### marts.x`` heading."""
    return re.sub(r"[^a-z0-9_-]", "", mart.lower())


# -- the page --------------------------------------------------------------------------------------


def marts_as_of(eng: Engine) -> date | None:
    """The as-of date of the marts as published: the latest KPI refresh that passed its checks."""
    with eng.connect() as conn:
        return conn.execute(text(
            "select as_of from meta.runs where stage = 'kpis' and coalesce(stats->'violations', '[]') = '[]'"
            " order by finished_at desc limit 1")).scalar()


def render(eng: Engine, as_of: date | None = None) -> tuple[str, date]:
    """The report's HTML for the marts' as-of date (``as_of`` must be it, when given)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from smarketing.kpis import business_hours_params, kpi_settings

    published = marts_as_of(eng)
    if published is None:
        raise ReportError("no KPI refresh has published marts yet: run the pipeline first (smarketing run,"
                          " or the smarketing_kpis DAG)")
    if as_of is not None and as_of != published:
        raise ReportError(f"the marts are as of {published.isoformat()}, not {as_of.isoformat()}: a report shows the"
                          f" marts as published, so refresh them for {as_of.isoformat()} first (smarketing run"
                          f" --as-of {as_of.isoformat()}), or leave out --as-of")
    settings = kpi_settings()
    month = published.replace(day=1)
    first = date(month.year - (1 if month.month < MONTHS_SHOWN else 0), (month.month - MONTHS_SHOWN) % 12 + 1, 1)
    params = {"as_of": published, "month": month, "first_month": first, "currency": settings["reporting_currency"],
              "sla_hours": settings["lead_response_sla_hours"], **business_hours_params(settings)}
    import matplotlib

    # a name is text, never TeX: "Save $5 or $10" stays as written, and "$\frac{$" cannot break it
    with eng.connect() as conn, matplotlib.rc_context({"text.parse_math": False}):
        sections = [build(conn, params) for build in SECTIONS]
    docs = definitions()
    env = Environment(loader=PackageLoader("smarketing", "data"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = lambda value, kind: _fmt(value, kind, params["currency"])
    env.filters["raw"] = _raw
    env.filters["anchor"] = anchor
    env.filters["code"] = _code
    html = env.get_template("kpi_report.html.j2").render(
        sections=sections, as_of=published, first_month=first, month=month, currency=params["currency"],
        definitions=docs, version=__version__,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return html, published


def _code(prose: str) -> Any:
    """Catalog prose with its `code` spans as <code>, everything else escaped."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(prose))))


def report_dir() -> Path:
    return PATHS.reports


def write(eng: Engine, as_of: date | None = None, out: Path | None = None) -> Path:
    """Render the report and write it atomically to ``out``, by default
    ``<SMARKETING_REPORT_DIR>/kpis_<as_of>.html``; returns the path. The page goes to a new file of
    a random name beside the target (created exclusively, never through a planted link), then
    replaces the target, which must be absent or a regular file."""
    if out is None:
        published = as_of or marts_as_of(eng)
        out = report_dir() / f"kpis_{published.isoformat() if published else 'none'}.html"
    out = Path(os.path.abspath(out))
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise ReportPathError(f"cannot write {out}: it is not a regular file; nothing was written")
    html, published = render(eng, as_of)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise ReportPathError(f"cannot write {out}: {exc.strerror}; nothing was written") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as page:
            page.write(html)
        os.chmod(partial, 0o640)  # for the team, not the world: owner names, revenue
        os.replace(partial, out)
    except OSError as exc:
        os.unlink(partial)
        raise ReportPathError(f"cannot write {out}: {exc.strerror}; nothing was written") from exc
    log.info("KPI report as of %s: %s (%d KB)", published.isoformat(), out, len(html) // 1024)
    return out


def recipients() -> list[str]:
    """``SMARKETING_REPORT_EMAIL``: the addresses (comma-separated) the report is mailed to; none by default."""
    from smarketing.mailbox import is_address

    found = [r.strip() for r in os.environ.get("SMARKETING_REPORT_EMAIL", "").split(",") if r.strip()]
    bad = [r for r in found if not is_address(r)]
    if bad:
        raise ReportError(f"SMARKETING_REPORT_EMAIL: {', '.join(repr(b) for b in bad)} is not an email address;"
                          " give addresses separated by commas")
    return found


def mail(path: Path, as_of: date) -> list[str]:
    """Send the report as an attachment through Airflow's SMTP notifier (connection ``smtp_default``,
    e.g. ``AIRFLOW_CONN_SMTP_DEFAULT``) to ``recipients()``; returns them (empty: nothing sent)."""
    to = recipients()
    if not to:
        return []
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    SmtpNotifier(
        to=to, from_email=os.environ.get("SMARKETING_ALERT_FROM") or None,
        subject=f"Sales and marketing KPIs as of {as_of.isoformat()}",
        html_content=(f"<p>The KPI report as of {as_of.isoformat()} is attached: open it in a browser; it needs no"
                      " network.</p>"),
        files=[str(path)],
    ).notify({})
    log.info("KPI report mailed to %d recipient(s)", len(to))
    return to


def latest(directory: Path | None = None) -> Path | None:
    """The newest report by as-of date in the report folder, if any."""
    found = sorted((directory or report_dir()).glob("kpis_????-??-??.html"))
    return found[-1] if found else None


def figures(html: str) -> list[dict[str, str]]:
    """Every figure of a report as {mart, key, column, value} (attributes unescaped): what a script
    or test reads back without a browser."""
    from html.parser import HTMLParser

    found: list[dict[str, str]] = []

    class Cells(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if "data-column" in values:
                found.append({name: values.get(f"data-{name}") or "" for name in ("mart", "key", "column", "value")})

    Cells().feed(html)
    return found
