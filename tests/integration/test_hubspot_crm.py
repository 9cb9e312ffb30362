"""HubSpot as the only CRM: a Swiss and Polish portal with two deal pipelines (HubSpot's default and
a renewals pipeline with numeric stage ids), an archived owner, deals associated with contacts
and companies, served over HTTP by the HubSpot fake and run through the whole pipeline. No
Salesforce. Every expected figure is worked out by hand below from the records.

Deals (as of 2026-06-30; stage ids are the portal's):

The reporting currency is CHF. Rates: EUR 0.95 (config/kpis.yaml exchange_rates); PLN from a
rates file drop quoted in CHF: 0.20 from 1 January, 0.22 from 1 June 2026.

| deal | contact | pipeline / stage         | amount     | in CHF  | created | closes | owner          |
|------|---------|--------------------------|------------|---------|---------|--------|----------------|
| 9001 | Jürgen  | default / closedwon      | 12,000 CHF | 12,000  | 05-20   | 06-10  | Lena Fröhlich  |
| 9002 | Agnieszka | default / closedlost   |  5,000 EUR |  4,750  | 05-25   | 06-12  | Tomasz Wójcik (archived) |
| 9003 | Beat    | default / qualifiedtobuy |  8,000 CHF |  8,000  | 06-05   | 07-31  | Lena Fröhlich  |
| 9004 | Ola     | renewals / 1002 (won)    |  3,000 PLN |    660  | 06-01   | 06-20  | Lena Fröhlich  |
| 9005 | Beat    | default / closedwon      | 99,999 CHF | 99,999  | 06-02   | 06-15  | Lena Fröhlich  |

9005 is archived (deleted) in HubSpot before run 2.

- June won (funnel, channel all): run 1: 9001, 9004, 9005 = 3 for 112,659; run 2: 9001, 9004 = 2 for 12,660.
- sales_performance after run 2 (segment unknown: the companies have no industry):
  Lena: closed 9001, 9004, both won: win rate 1 by count and amount, average deal 6,330, cycle
  (21 + 19) / 2 = 20 days; Tomasz: 9002 lost: win rate 0 by count and by amount (0 of 4,750).
- Ola bounced hard (UNKNOWN_USER, 06-21): suppressed. Customers of the last 60 days: run 1 Beat and
  Jürgen; run 2 Jürgen only (Beat's only win was deleted).
- Stage history of 9001: Prospecting (05-20), Negotiation/Review (06-01), Closed Won (06-10);
  of 9004: Negotiation/Review (1001, mapped in config), Closed Won (1002: closed at probability 1).
- 9003 was created at 6,000 CHF to close on 06-25; on 07-02, between the runs, it grew to 8,000
  and moved to 07-31. Run 2, as of 06-30, knows its history: it is June's open pipeline, overdue,
  at 6,000 (weighted at Qualification's 40 %: 2,400), and July has none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.demo.fakes import FakeHubSpot
from smarketing.demo.world import DEFAULT_PIPELINE, Dataset
from tests.fixtures.world import NURTURE_YAML

AS_OF = date(2026, 6, 30)
SOURCES_YAML = """
systems:
  hubspot:
    kind: hubspot
    deal_stages:
      appointmentscheduled: Prospecting
      qualifiedtobuy: Qualification
      contractsent: Negotiation/Review
      closedwon: Closed Won
      closedlost: Closed Lost
      Verlängerung fällig: Negotiation/Review
    custom_fields:
      deals:
        produktlinie: {name: product_line}
        vertragsmonate: {name: contract_months, type: number}
        verlaengerung_am: {name: renewal_date, type: date}
"""
CROSS_SELL_YAML = """
  cross_sell:
    description: Roasting machine customers without a service contract.
    eligibility: nurture/programs/cross_sell.sql
    params: {from_line: Röstmaschinen, to_line: Service}
    fields: [email, last_purchase_date]
    destinations: [view]
"""
RATES_CSV = "Kurs-ID;Währung;Kurs;Basis;Gültig ab\nR1;PLN;0,20;CHF;01.01.2026\nR2;PLN;0,22;CHF;01.06.2026\n"
FILE_DROPS_YAML = """
drops:
  rates:
    entity: exchange_rates
    location: {folder}
    pattern: "*.csv"
    delimiter: ";"
    id_column: Kurs-ID
    columns: {{Währung: currency, Kurs: rate, Basis: base_currency, Gültig ab: valid_from}}
    date_format: "%d.%m.%Y"
    decimal: ","
"""


def write_config(folder, zone: str = "UTC") -> None:
    """sources, nurture, kpis (CHF, the time zone) and the rates drop of these tests into ``folder``."""
    from pathlib import Path

    folder.mkdir(parents=True)
    (folder / "sources.yaml").write_text(SOURCES_YAML)
    nurture = NURTURE_YAML.replace("[csv, view, hubspot_list, files, mailchimp, salesforce_campaign]", "[csv, view]")
    (folder / "nurture.yaml").write_text(nurture.replace("\nsuppression:", CROSS_SELL_YAML + "suppression:"))
    shipped = (Path(__file__).parents[2] / "config" / "kpis.yaml").read_text()
    (folder / "kpis.yaml").write_text(
        shipped.replace("reporting_timezone: UTC", f"reporting_timezone: {zone}")
        .replace("reporting_currency: EUR", "reporting_currency: CHF")
        .replace("exchange_rates: {}", "exchange_rates: {EUR: 0.95}"))
    (folder / "rates").mkdir()
    (folder / "rates" / "kurse_2026.csv").write_text(RATES_CSV, encoding="utf-8")
    (folder / "file_drops.yaml").write_text(FILE_DROPS_YAML.format(folder=folder / "rates"))


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def hs(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def renewals_pipeline() -> dict:
    def stage(stage_id, label, order, probability, closed):
        return {"id": stage_id, "label": label, "displayOrder": order, "archived": False,
                "metadata": {"isClosed": str(closed).lower(), "probability": probability}}

    return {"id": "7654321", "label": "Verlängerungen", "displayOrder": 1, "archived": False,
            "createdAt": hs(at(1, 5)), "updatedAt": hs(at(1, 5)),
            "stages": [stage("1001", "Verlängerung fällig", 0, "0.5", False),
                       stage("1002", "Verlängert", 1, "1.0", True),
                       stage("1003", "Gekündigt", 2, "0.0", True)]}


def portal(run: int) -> Dataset:
    data = Dataset()
    data.add("hubspot", "deal_pipelines", "default", at(1, 1), DEFAULT_PIPELINE)
    data.add("hubspot", "deal_pipelines", "7654321", at(1, 5), renewals_pipeline())
    for owner_id, first, last, archived in (("81001", "Lena", "Fröhlich", False),
                                            ("81002", "Tomasz", "Wójcik", True)):
        data.add("hubspot", "owners", owner_id, at(1, 2), {
            "id": owner_id, "email": f"{first.lower()}@bergblick.example", "firstName": first, "lastName": last,
            "userId": int(owner_id) + 1, "createdAt": hs(at(1, 2)), "updatedAt": hs(at(1, 2)), "archived": archived})
    for company_id, name, domain in (("301", "Kaffeerösterei Zürich GmbH", "kaffee-zh.ch"),
                                     ("302", "Łódź Logistyka", "lodz-log.pl")):
        data.add("hubspot", "companies", company_id, at(4, 1), {
            "id": company_id, "properties": {"name": name, "domain": domain, "createdate": hs(at(4, 1)),
                                             "hs_lastmodifieddate": hs(at(4, 1))},
            "createdAt": hs(at(4, 1)), "updatedAt": hs(at(4, 1)), "archived": False})
    for contact_id, email, first, last, created in (
            ("501", "juergen@kaffee-zh.ch", "Jürgen", "Müller", at(5, 2)),
            ("502", "agnieszka@lodz-log.pl", "Agnieszka", "Wójcik-Nowak", at(5, 5)),
            ("503", "beat@kaffee-zh.ch", "Beat", "Schnyder", at(5, 10)),
            ("504", "ola@lodz-log.pl", "Ola", "Kowalska", at(6, 1))):
        data.add("hubspot", "contacts", contact_id, created, {
            "id": contact_id, "properties": {
                "email": email, "firstname": first, "lastname": last, "createdate": hs(created),
                "lastmodifieddate": hs(created), "lifecyclestage": "customer", "hs_email_optout": "false"},
            "createdAt": hs(created), "updatedAt": hs(created), "archived": False})
        data.add("hubspot", "subscription_statuses", contact_id, created, {
            "contactId": contact_id, "recipient": email, "subscriptionStatuses": [
                {"id": "401", "name": "Kundeninformationen", "status": "SUBSCRIBED",
                 "sourceOfStatus": "SUBSCRIPTION_STATUS", "legalBasis": "LEGITIMATE_INTEREST_CLIENT"}]})
    data.add("hubspot", "email_events", "ev-1", at(6, 21), {
        "id": "ev-1", "type": "BOUNCE", "recipient": "ola@lodz-log.pl", "category": "UNKNOWN_USER",
        "created": int(at(6, 21).timestamp() * 1000), "emailCampaignId": 12, "portalId": 4711})

    def deal(deal_id, contact, company, pipeline, stage, amount, created, closes, owner, history, won=None,
             archived_at=None, currency="CHF", amounts=(), closes_history=(), **custom):
        closed = won is not None
        modified = archived_at or max(t for _, t in (*history, *amounts, *closes_history))
        payload = {
            "id": deal_id, "properties": {
                "dealname": f"Deal {deal_id}", "amount": str(amount), "pipeline": pipeline, "dealstage": stage,
                "createdate": hs(created), "closedate": hs(closes), "hs_lastmodifieddate": hs(modified),
                "hs_is_closed": str(closed).lower(), "hs_is_closed_won": str(bool(won)).lower(),
                "hubspot_owner_id": owner, "deal_currency_code": currency, **custom},
            "propertiesWithHistory": {name: [  # newest first, as HubSpot answers
                {"value": v, "timestamp": hs(t), "sourceType": "CRM_UI"} for v, t in reversed(changes)]
                for name, changes in (("dealstage", history), ("amount", amounts), ("closedate", closes_history))},
            "associations": {"contacts": [contact], "companies": [company]},
            "createdAt": hs(created), "updatedAt": hs(modified), "archived": archived_at is not None}
        if archived_at:
            payload["archivedAt"] = hs(archived_at)
        data.add("hubspot", "deals", deal_id, modified, payload, is_deleted=archived_at is not None)

    deal("9001", "501", "301", "default", "closedwon", 12000, at(5, 20), at(6, 10, 14), "81001",
         [("appointmentscheduled", at(5, 20)), ("contractsent", at(6, 1)), ("closedwon", at(6, 10, 14))], won=True,
         produktlinie="Röstmaschinen", vertragsmonate="24", verlaengerung_am="2028-06-10")
    deal("9002", "502", "302", "default", "closedlost", 5000, at(5, 25), at(6, 12), "81002",
         [("appointmentscheduled", at(5, 25)), ("closedlost", at(6, 12))], won=False, currency="EUR")
    for line_id, deal_id, name, quantity, price in (("70001", "9001", "Röstmaschine R-500", "1", "11000"),
                                                    ("70002", "9001", "Wartung (Monate)", "12", "83.25"),
                                                    ("70003", "9005", "Röstmaschine R-900", "1", "99999")):
        data.add("hubspot", "line_items", line_id, at(6, 10), {
            "id": line_id, "properties": {
                "name": name, "quantity": quantity, "price": price, "hs_product_id": f"p-{name[:3]}",
                "createdate": hs(at(6, 10)), "hs_lastmodifieddate": hs(at(6, 10))},
            "associations": {"deals": [deal_id]}, "createdAt": hs(at(6, 10)), "updatedAt": hs(at(6, 10)),
            "archived": False})
    grown = run == 2  # on 07-02, between the runs
    deal("9003", "503", "301", "default", "qualifiedtobuy", 8000 if grown else 6000, at(6, 5),
         at(7, 31) if grown else at(6, 25, 0), "81001", [("qualifiedtobuy", at(6, 5))],
         amounts=[("6000", at(6, 5)), *([("8000", at(7, 2))] if grown else [])],
         closes_history=[(hs(at(6, 25, 0)), at(6, 5)), *([(hs(at(7, 31, 0)), at(7, 2))] if grown else [])])
    deal("9004", "504", "302", "7654321", "1002", 3000, at(6, 1), at(6, 20), "81001",
         [("1001", at(6, 1)), ("1002", at(6, 20))], won=True, currency="PLN", produktlinie="Service",
         vertragsmonate="zwölf")
    deal("9005", "503", "301", "default", "closedwon", 99999, at(6, 2), at(6, 15), "81001",
         [("appointmentscheduled", at(6, 2)), ("closedwon", at(6, 15))], won=True,
         archived_at=at(6, 29) if run == 2 else None)
    return data


@pytest.fixture(scope="module")
def runs(engine, tmp_path_factory):
    """Two runs from an empty warehouse; what the marts and lists held after each."""
    import os

    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    folder = tmp_path_factory.mktemp("hubspot_crm")
    write_config(folder / "config")
    saved = {k: os.environ.get(k) for k in ("SMARKETING_CONFIG_DIR", "SMARKETING_EXPORT_DIR",
                                             "AIRFLOW_CONN_HUBSPOT_DEFAULT")}
    os.environ.update(SMARKETING_CONFIG_DIR=str(folder / "config"), SMARKETING_EXPORT_DIR=str(folder / "exports"))
    seen = []
    try:
        for run in (1, 2):
            with FakeHubSpot(portal(run), token="bergblick") as fake:
                os.environ["AIRFLOW_CONN_HUBSPOT_DEFAULT"] = (
                    f'{{"conn_type": "http", "host": "{fake.url}", "password": "bergblick"}}')
                tasks.run_pipeline(f"hubspot-crm-{run}", AS_OF)
            with engine.connect() as conn:
                seen.append({
                    "june": conn.execute(text("select won, won_amount from marts.funnel"
                                              " where month = '2026-06-01' and channel = 'all'")).one(),
                    "members": conn.execute(text("select email from nurture.list_members where program = 'customers'"
                                                 " order by email")).scalars().all(),
                })
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return seen


def test_hubspot_deals_give_the_funnel_its_wins_and_a_deleted_deal_leaves(runs):
    assert runs[0]["june"] == (3, Decimal("112659.00"))
    assert runs[1]["june"] == (2, Decimal("12660.00"))


def test_owners_are_named_and_win_rates_computed_per_owner(runs, engine):
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select owner_name, segment, closed_opportunities, won_opportunities, win_rate_by_count,"
            " win_rate_by_amount, avg_deal_size, avg_sales_cycle_days from marts.sales_performance"
            " order by owner_name")).all()
    assert [tuple(r) for r in rows] == [
        ("Lena Fröhlich", "unknown", 2, 2, Decimal("1.0000"), Decimal("1.0000"), Decimal("6330.00"), Decimal("20.00")),
        ("Tomasz Wójcik", "unknown", 1, 0, Decimal("0.0000"), Decimal("0.0000"), None, None),
    ]


def test_after_sales_lists_follow_hubspot_deals_and_suppression(runs):
    assert runs[0]["members"] == ["beat@kaffee-zh.ch", "juergen@kaffee-zh.ch"]
    assert runs[1]["members"] == ["juergen@kaffee-zh.ch"]


def test_stage_history_speaks_the_shared_stages(runs, engine):
    with engine.connect() as conn:
        history = conn.execute(text(
            "select o.source_record_id, h.stage_name, h.entered_at::date from core.opportunity_stage_history as h"
            " join core.opportunity as o using (opportunity_id) where o.source_record_id in ('9001', '9004')"
            " order by 1, 3")).all()
        opportunities = conn.execute(text(
            "select source_record_id, stage_name, is_closed, is_won, probability, a.name"
            " from core.opportunity as o left join core.account as a using (account_id)"
            " order by source_record_id")).all()
    assert [tuple(r) for r in history] == [
        ("9001", "Prospecting", date(2026, 5, 20)), ("9001", "Negotiation/Review", date(2026, 6, 1)),
        ("9001", "Closed Won", date(2026, 6, 10)),
        ("9004", "Negotiation/Review", date(2026, 6, 1)), ("9004", "Closed Won", date(2026, 6, 20))]
    assert [tuple(r) for r in opportunities] == [
        ("9001", "Closed Won", True, True, Decimal("100.0"), "Kaffeerösterei Zürich GmbH"),
        ("9002", "Closed Lost", True, False, Decimal("0.0"), "Łódź Logistyka"),
        ("9003", "Qualification", False, False, Decimal("40.0"), "Kaffeerösterei Zürich GmbH"),
        ("9004", "Closed Won", True, True, Decimal("100.0"), "Łódź Logistyka"),
    ]


def test_line_items_tell_what_was_sold(runs, engine):
    """9001 sold a roasting machine and a year of maintenance (12 x 83.25 = 999.00 CHF); 9005's line
    left with its deleted deal."""
    with engine.connect() as conn:
        lines = conn.execute(text(
            "select o.source_record_id, l.product_name, l.quantity, l.unit_price, l.amount, l.currency"
            " from core.opportunity_line_item as l join core.opportunity as o using (opportunity_id)"
            " order by l.source_record_id")).all()
    assert [tuple(r) for r in lines] == [
        ("9001", "Röstmaschine R-500", Decimal("1"), Decimal("11000.00"), Decimal("11000.00"), "CHF"),
        ("9001", "Wartung (Monate)", Decimal("12"), Decimal("83.25"), Decimal("999.00"), "CHF")]


def test_custom_properties_arrive_typed_and_drive_a_program(runs, engine):
    """produktlinie, vertragsmonate (a number) and verlaengerung_am (a date) are typed into
    core.opportunity.custom under the names config gives them; "zwölf" is no number and stays out.
    product_line feeds cross_sell: Jürgen bought roasting machines and no service."""
    with engine.connect() as conn:
        custom = conn.execute(text("select source_record_id, product_line, custom from core.opportunity"
                                   " where source_record_id in ('9001', '9004') order by 1")).all()
        cross_sell = conn.execute(text("select email from nurture.list_members where program = 'cross_sell'")
                                  ).scalars().all()
    assert [tuple(r) for r in custom] == [
        ("9001", "Röstmaschinen", {"product_line": "Röstmaschinen", "contract_months": 24,
                                   "renewal_date": "2028-06-10"}),
        ("9004", "Service", {"product_line": "Service"})]
    assert cross_sell == ["juergen@kaffee-zh.ch"]


def with_late_win(deal_id: str, contact: str, company: str, won: datetime, amount: str, currency: str = "CHF"):
    """Run 2's portal and one more deal won at ``won``, shaped like 9001."""
    data = portal(2)
    payload = data.latest[("hubspot", "deals", "9001")].payload
    stamp = hs(won)
    data.add("hubspot", "deals", deal_id, won, {
        **payload, "id": deal_id, "associations": {"contacts": [contact], "companies": [company]},
        "properties": {**payload["properties"], "dealname": f"Deal {deal_id}", "amount": amount, "closedate": stamp,
                       "hs_lastmodifieddate": stamp, "deal_currency_code": currency},
        "propertiesWithHistory": {"dealstage": [{"value": "closedwon", "timestamp": stamp}]}})
    return data


def run_alone(engine, data, config, monkeypatch, run_id: str) -> None:
    """The whole pipeline once on ``data`` from an empty warehouse, with the configuration ``config``."""
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    monkeypatch.setenv("SMARKETING_EXPORT_DIR", str(config.parent / "exports"))
    with FakeHubSpot(data, token="bergblick") as fake:
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT",
                           f'{{"conn_type": "http", "host": "{fake.url}", "password": "bergblick"}}')
        tasks.run_pipeline(run_id, AS_OF)


def test_a_deal_won_after_midnight_in_berlin_is_julys_there(runs, engine, tmp_path, monkeypatch):
    """Deal 9006 closes at 2026-06-30 22:30 UTC, 00:30 on 1 July in Berlin. With the reporting time
    zone UTC it is June's third win (after 9001 and 9004) and its buyer a customer as of 30 June;
    with Europe/Berlin it closes in July, after the as-of date. Runs last: it rebuilds the warehouse."""
    data = with_late_win("9006", "502", "302", at(6, 30, 22).replace(minute=30), "700")
    seen = {}
    for zone in ("UTC", "Europe/Berlin"):
        config = tmp_path / zone.replace("/", "_") / "config"
        write_config(config, zone)
        run_alone(engine, data, config, monkeypatch, f"berlin-{zone}")
        with engine.connect() as conn:
            seen[zone] = (
                conn.execute(text("select close_date from core.opportunity where source_record_id = '9006'")).scalar(),
                conn.execute(text("select won, won_amount from marts.funnel where month = '2026-06-01'"
                                  " and channel = 'all'")).one(),
                conn.execute(text("select email from nurture.list_members where program = 'customers'"
                                  " order by email")).scalars().all())
    assert seen["UTC"] == (date(2026, 6, 30), (3, Decimal("13360.00")),
                           ["agnieszka@lodz-log.pl", "juergen@kaffee-zh.ch"])
    assert seen["Europe/Berlin"] == (date(2026, 7, 1), (2, Decimal("12660.00")), ["juergen@kaffee-zh.ch"])


def test_a_currency_without_a_rate_fails_the_gate_and_sums_nowhere(runs, engine, tmp_path, monkeypatch):
    """Deal 9007, 1,000 USD won on 25 June: no source has a USD rate. Its amount stays out of every
    sum (June's won amount is 9001's and 9004's, as in run 2), and the run fails after the merge
    naming the currency and the day. Runs last: it rebuilds the warehouse."""
    from smarketing.quality import DataQualityError

    write_config(tmp_path / "config")
    with pytest.raises(DataQualityError, match=r"USD on 2026-06-25 \(1 opportunities\)"):
        run_alone(engine, with_late_win("9007", "503", "301", at(6, 25), "1000", "USD"), tmp_path / "config",
                  monkeypatch, "no-usd-rate")
    with engine.connect() as conn:
        deal = conn.execute(text("select amount, currency, deal_amount, deal_currency from core.opportunity"
                                 " where source_record_id = '9007'")).one()
        june = conn.execute(text("select won, won_amount, currency from marts.funnel where month = '2026-06-01'"
                                 " and channel = 'all'")).one()
    assert tuple(deal) == (None, "CHF", Decimal("1000.00"), "USD")
    assert tuple(june) == (3, Decimal("12660.00"), "CHF")


def test_a_deal_changed_after_the_as_of_date_is_read_as_it_stood(runs, engine):
    """9003's amount and close date history (propertiesWithHistory), through the fake's batch read."""
    with engine.connect() as conn:
        history = conn.execute(text(
            "select h.stage_name, h.amount, h.close_date, h.entered_at from core.opportunity_stage_history as h"
            " join core.opportunity as o using (opportunity_id) where o.source_record_id = '9003'"
            " order by h.entered_at")).all()
        forecast = conn.execute(text("select month, open_pipeline, weighted_pipeline from marts.forecast"
                                     " where open_pipeline > 0 order by month")).all()
    assert history == [("Qualification", Decimal("6000.00"), date(2026, 6, 25), at(6, 5)),
                       ("Qualification", Decimal("8000.00"), date(2026, 7, 31), at(7, 2))]
    assert forecast == [(date(2026, 6, 1), Decimal("6000.00"), Decimal("2400.00"))]
