"""The KPI report as a person sees it: built from source records through every stage, opened in
headless Chromium (Debian's chromium, driven by Playwright), on a laptop and on a phone.

The figures in the page are checked against the marts, each recomputed here from the mart rows
with the rule the report states (sums over the window; rates weighted by their cohorts)."""

import copy
import os
import statistics
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing import kpi_report, tasks
from smarketing.demo.world import DemoSource
from smarketing.landing import land_source
from tests.conftest import reset_warehouse
from tests.fixtures import demo_story

AS_OF = date.fromisoformat(demo_story.AS_OF)
WINDOW = (date(2025, 7, 1), date(2026, 6, 1))  # the twelve months up to the as-of month
# A campaign name with what a chart could read as TeX, that tries to break out of the table and run
# script, in other alphabets
HOSTILE = ('Save $5 or $10 $\\frac{a}{$ </td><img src=x onerror="window.__pwned=1">'
           '<script>window.__pwned=2</script>Frühjahr «Ü» & Żółw 春')
CHARTS = {"chart-funnel", "chart-funnel-channels", "chart-trend", "chart-response", "chart-pipeline",
          "chart-attribution", "chart-forecast", "chart-sales", "chart-abc", "chart-rfm", "chart-email",
          "chart-nurture", "chart-quality"}


@pytest.fixture(scope="module")
def built(engine, demo_dataset, tmp_path_factory):
    """The demo's sources with one campaign renamed to HOSTILE, landed, validated, merged, the KPIs
    refreshed and the lists built, as the tasks do it; then the report written."""
    from smarketing.nurture.lists import build_lists
    from smarketing.nurture.programs import load_programs

    reset_warehouse(engine)
    dataset = copy.deepcopy(demo_dataset)
    first = dataset.records[("hubspot", "campaigns")][0].record_id
    for record in dataset.records[("hubspot", "campaigns")]:
        if record.record_id == first:
            record.payload["name"] = HOSTILE
    for system in ("hubspot", "salesforce"):
        land_source(engine, DemoSource(system, dataset), "report")
    tasks.validate("report", AS_OF)
    tasks.merge("report", AS_OF)
    tasks.refresh_kpis("report", AS_OF)
    build_lists(engine, list(load_programs().values()), AS_OF, "report",
                export_dir=tmp_path_factory.mktemp("exports"))
    path = kpi_report.write(engine, AS_OF)
    return engine, path


def mart(eng, query, **params):
    with eng.connect() as conn:
        return [dict(r) for r in conn.execute(text(query), params).mappings()]


def expected_figures(eng):
    """(section, row key, column) -> value, each worked out from the mart rows in Python."""
    want = {}
    june = mart(eng, "select * from marts.kpi_summary where month = '2026-06-01'")[0]
    for column, value in june.items():
        want[("headline", "", column)] = value
    funnel = mart(eng, "select * from marts.funnel where month between :a and :b", a=WINDOW[0], b=WINDOW[1])
    by_channel = defaultdict(list)
    for row in funnel:
        by_channel[row["channel"]].append(row)
    cohorts = {"lead_to_mql_rate": "leads", "mql_to_sql_rate": "mqls", "sql_to_opportunity_rate": "sqls",
               "opportunity_to_won_rate": "opportunities", "lead_to_won_rate": "leads", "mql_to_won_rate": "mqls"}
    for channel, rows in by_channel.items():
        want[("funnel", channel, "channel")] = channel
        for column in ("leads", "mqls", "sqls", "opportunities", "won", "won_amount"):
            want[("funnel", channel, column)] = sum(r[column] for r in rows)
        for rate, cohort in cohorts.items():
            size = sum(r[cohort] for r in rows)
            want[("funnel", channel, rate)] = (
                sum(r[rate] * r[cohort] for r in rows if r[rate] is not None) / size if size else None)
        if channel == "all":
            for r in rows:
                for column in ("month", "leads", "mqls", "sqls", "opportunities", "won", "won_amount"):
                    want[("trend", r["month"].isoformat(), column)] = r[column]
    responses = defaultdict(list)
    for r in mart(eng, "select * from marts.lead_response_time where mql_month between :a and :b",
                  a=WINDOW[0], b=WINDOW[1]):
        responses[r["mql_month"]].append(r)
    for month, rows in responses.items():
        hours = [r["response_hours"] for r in rows if r["response_hours"] is not None]
        within = sum(r["is_within_sla"] for r in rows)
        want.update({("response", month.isoformat(), "mql_month"): month,
                     ("response", month.isoformat(), "mqls"): len(rows),
                     ("response", month.isoformat(), "responded"): sum(r["first_activity_at"] is not None
                                                                       for r in rows),
                     ("response", month.isoformat(), "within_sla"): within,
                     ("response", month.isoformat(), "share_within_sla"): within / len(rows),
                     ("response", month.isoformat(), "median_hours"): statistics.median(hours) if hours else None})
    pipeline = mart(eng, "select * from marts.pipeline")
    in_window = {p["opportunity_id"] for p in pipeline if WINDOW[0] <= p["created_month"] <= WINDOW[1]}
    months = defaultdict(list)
    for p in pipeline:
        if p["opportunity_id"] in in_window:
            months[p["created_month"]].append(p)
    for month, rows in months.items():
        key = month.isoformat()
        want.update({("pipeline", key, "created_month"): month, ("pipeline", key, "opportunities"): len(rows),
                     ("pipeline", key, "pipeline"): sum(r["amount"] for r in rows),
                     ("pipeline", key, "sourced"): sum(r["amount"] for r in rows if r["is_marketing_sourced"]),
                     ("pipeline", key, "influenced"): sum(r["amount"] for r in rows if r["is_marketing_influenced"]),
                     ("pipeline", key, "won"): sum(r["amount"] for r in rows if r["is_won"])})
    credited = defaultdict(lambda: defaultdict(Decimal))
    touched = defaultdict(set)
    for a in mart(eng, "select * from marts.attribution"):
        if a["opportunity_id"] not in in_window:
            continue
        channel = a["channel"] or "unknown"
        touched[channel].add(a["opportunity_id"])
        for model in ("first_touch", "last_touch", "linear", "w_shaped"):
            credited[channel][model] += a["opportunity_amount"] * a[f"{model}_credit"]
        if a["is_won"]:
            credited[channel]["won_w_shaped"] += a["opportunity_amount"] * a["w_shaped_credit"]
    for channel, sums in credited.items():
        want[("attribution", channel, "channel")] = channel
        want[("attribution", channel, "opportunities")] = len(touched[channel])
        for model in ("first_touch", "last_touch", "linear", "w_shaped", "won_w_shaped"):
            want[("attribution", channel, model)] = round(sums[model], 2)
    for r in mart(eng, "select * from marts.forecast"):
        for column in ("month", "open_pipeline", "weighted_pipeline", "forecast_at_month_start", "actual_won",
                       "forecast_accuracy", "wape_12_months"):
            want[("forecast", r["month"].isoformat(), column)] = r[column]
    for r in mart(eng, "select * from marts.sales_performance"):
        key = f"{r['owner_id']} / {r['segment']}"
        for column in ("owner_name", "segment", "closed_opportunities", "won_opportunities", "win_rate_by_count",
                       "win_rate_by_amount", "avg_deal_size", "avg_sales_cycle_days"):
            want[("sales", key, column)] = r[column]
    customers = mart(eng, "select * from marts.customer_segments")
    for field in ("abc_class", "rfm_segment"):
        counts = Counter(c[field] for c in customers)
        for value, n in counts.items():
            want[("segments", value, field)] = value
            want[("segments", value, "customers")] = n
            want[("segments", value, "revenue")] = sum(c["revenue"] for c in customers if c[field] == value)
    for r in mart(eng, "select * from marts.email_performance"):
        for column in ("campaign_name", "sent", "delivered", "unique_opens", "unique_clicks", "bounces",
                       "unsubscribes", "delivery_rate", "unique_open_rate", "click_to_open_rate", "bounce_rate",
                       "unsubscribe_rate"):
            want[("email", str(r["campaign_id"]), column)] = r[column]
    for r in mart(eng, "select * from nurture.list_runs where as_of = :d", d=AS_OF):
        for column in ("program", "as_of", "members", "added", "removed", "eligible", "suppressed"):
            want[("nurture", r["program"], column)] = r[column]
        want[("nurture", r["program"], "suppressed_by_reason")] = ", ".join(
            f"{k} {v}" for k, v in sorted(r["suppressed_reasons"].items()))
    return want


def same(page_value: str, value) -> bool:
    if value is None:
        return page_value == ""
    if isinstance(value, date):
        return page_value == value.isoformat()
    if isinstance(value, bool | str):
        return page_value == str(value)
    return abs(Decimal(page_value) - Decimal(str(value))) <= Decimal("0.00005") * max(1, abs(Decimal(str(value))))


def open_page(browser, path, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    seen = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda m: seen["console"].append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, seen


def test_the_report_renders_offline_with_every_chart_and_the_marts_figures(built, browser):
    eng, path = built
    page, seen = open_page(browser, path, 1280, 900)
    assert seen["console"] == [] and seen["errors"] == []
    assert seen["requests"] == [path.as_uri()], "the page fetches nothing: no CDN, no font, no image"
    charts = page.evaluate("""() => [...document.querySelectorAll('svg.chart')].map(svg => ({
        id: svg.id, height: svg.getBoundingClientRect().height,
        marks: [...svg.querySelectorAll('[id*="-mark-"]')].filter(m => {
            const box = m.getBoundingClientRect(); return box.width > 0 && box.height > 0; }).length}))""")
    assert {c["id"] for c in charts} == CHARTS
    assert [c for c in charts if c["marks"] == 0 or c["height"] < 100] == []
    cells = page.evaluate("""() => [...document.querySelectorAll('[data-column]')].map(el => ({
        section: el.closest('section').id, key: el.dataset.key || '', column: el.dataset.column,
        value: el.dataset.value, text: el.textContent}))""")
    shown = {(c["section"], c["key"], c["column"]): c for c in cells if c["section"] != "quality"}
    want = {k: v for k, v in expected_figures(eng).items() if k[0] != "headline" or k[2] in
            {c["column"] for c in cells if c["section"] == "headline"}}
    assert set(shown) == set(want)
    assert {k: (shown[k]["value"], want[k]) for k in want if not same(shown[k]["value"], want[k])} == {}
    # the figures a person reads say the same as the values
    june = mart(eng, "select won, won_amount, win_rate from marts.kpi_summary where month = '2026-06-01'")[0]
    assert shown[("headline", "", "won")]["text"] == str(june["won"])
    assert shown[("headline", "", "won_amount")]["text"] == f"{june['won_amount']:,.0f} EUR"
    assert shown[("headline", "", "win_rate")]["text"] == f"{june['win_rate']:.1%}"
    # every section names its mart and carries the catalog's definition of it
    sources = page.evaluate("""() => [...document.querySelectorAll('main section')].map(s => ({id: s.id,
        marts: [...s.querySelectorAll('.source code')].map(c => c.textContent),
        defined: [...s.querySelectorAll('details p')].map(p => p.textContent.length)}))""")
    assert all(s["marts"] and s["defined"] and min(s["defined"]) > 40 for s in sources if s["id"] != "quality")
    page.close()


def test_a_campaign_name_with_markup_is_shown_as_text_and_runs_nothing(built, browser):
    eng, path = built
    page, seen = open_page(browser, path, 1280, 900)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    names = page.locator('#email td[data-column="campaign_name"]').all_text_contents()
    assert HOSTILE in names
    labels = page.locator("#chart-email text").all_text_contents()
    assert any(label.startswith("Save $5 or $10 $\\frac{a}{$") for label in labels), "the label is the name, as text"
    assert seen["errors"] == []
    page.close()


def test_on_a_phone_nothing_needs_sideways_scrolling_but_the_wide_tables(built, browser):
    _, path = built
    page, seen = open_page(browser, path, 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    widths = page.evaluate("[...document.querySelectorAll('svg.chart')].map(s => s.getBoundingClientRect().right)")
    assert max(widths) <= 390
    assert seen["console"] == []
    page.close()


def test_a_report_for_another_day_than_the_marts_is_refused(built, tmp_path):
    eng, _ = built
    with pytest.raises(kpi_report.ReportError, match="the marts are as of 2026-06-30, not 2026-05-31"):
        kpi_report.write(eng, date(2026, 5, 31), tmp_path / "may.html")
    assert not (tmp_path / "may.html").exists()


def test_lists_built_for_another_day_than_the_marts_leave_the_report_and_say_so(built, caplog):
    """Found by a trial: `smarketing run --as-of <earlier> --only nurture` built the lists, then
    failed in the report step, whose marts were of another date."""
    assert tasks.report_after_lists(date(2026, 5, 31)) is None
    assert "the marts are as of 2026-06-30, not 2026-05-31" in caplog.text
    assert tasks.report_after_lists(AS_OF).endswith(f"kpis_{AS_OF}.html")


def test_the_report_is_mailed_as_an_attachment_through_airflows_smtp_connection(built, monkeypatch):
    """A real SMTP server on loopback (aiosmtpd) receives what Airflow's SMTP notifier sends."""
    import email
    import json

    from aiosmtpd.controller import Controller

    class Inbox:
        messages = []

        async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True}}))
        monkeypatch.setenv("SMARKETING_ALERT_FROM", "kpis@vendor.example")
        monkeypatch.setenv("SMARKETING_REPORT_EMAIL", "sales-leads@vendor.example, marketing@vendor.example")
        path = tasks.write_kpi_report(AS_OF, mail=True)
    finally:
        server.stop()
    ((recipients, content),) = inbox.messages
    assert sorted(recipients) == ["marketing@vendor.example", "sales-leads@vendor.example"]
    message = email.message_from_bytes(content)
    assert message["Subject"] == "Sales and marketing KPIs as of 2026-06-30"
    (attachment,) = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == "kpis_2026-06-30.html"
    assert attachment.get_payload(decode=True) == open(path, "rb").read()


def test_without_recipients_nothing_is_mailed_and_a_bad_address_is_named(built, monkeypatch):
    monkeypatch.delenv("SMARKETING_REPORT_EMAIL", raising=False)
    assert kpi_report.mail(built[1], AS_OF) == []
    monkeypatch.setenv("SMARKETING_REPORT_EMAIL", "sales@vendor.example; marketing")
    with pytest.raises(kpi_report.ReportError, match="'sales@vendor.example; marketing' is not an email address"):
        kpi_report.mail(built[1], AS_OF)


def test_the_report_goes_only_where_a_regular_file_may_be_replaced(built, tmp_path, capsys):
    """--out to a folder, a device-like file or a link is one line and exit 2; a link planted where a
    temporary file used to go is not followed; the page is readable by its group, not the world."""
    from smarketing import cli

    fifo, link, victim = tmp_path / "pipe", tmp_path / "link.html", tmp_path / "victim.txt"
    os.mkfifo(fifo)
    victim.write_text("keep me")
    link.symlink_to(victim)
    for target in (tmp_path, fifo, link):
        assert cli.main(["report", "--out", str(target)]) == 2
        assert capsys.readouterr().err.strip().endswith("nothing was written")
    assert cli.main(["report", "--out", ""]) == 2
    capsys.readouterr()
    (tmp_path / ".kpis.html.partial").symlink_to(victim)
    assert cli.main(["report", "--out", str(tmp_path / "kpis.html")]) == 0
    assert victim.read_text() == "keep me" and fifo.exists() and not fifo.is_file()
    page = tmp_path / "kpis.html"
    assert "KPIs as of 2026-06-30" in page.read_text() and oct(page.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".kpis.html.partial", "kpis.html", "link.html", "pipe",
                                                          "victim.txt"]
    capsys.readouterr()
    assert cli.main(["report", "--out", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")

