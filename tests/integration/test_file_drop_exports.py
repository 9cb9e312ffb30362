"""From CSV exports shaped unlike the demo to the funnel, worked out by hand.

tests/fixtures/exports/nordlicht/ holds a marketing tool's contacts (comma, Berlin wall-clock
times) and MQL export (semicolon, DD-MM-YYYY HH:MM, one date for lead and MQL), and a CRM's
accounts, contacts and deals (German stage names mapped, francs and dollars, owners). No API.
Business date 2026-05-20; every time below in UTC (Berlin is UTC+2 in spring). Amounts are reported
in EUR at the rates of config/kpis.yaml: 1 CHF = 1.05 EUR, 1 USD = 0.92 EUR.

People (one per address, whatever its case):
- Jürgen Müller: marketing contact 3 Apr 07:15 (webinar), MQL 10 Apr 14:45, CRM contact C-1;
  deal D-1 created 20 Apr 09:00, won 2 May 08:30 (12,000.00 CHF = 12,600.00 EUR, owner Lena Vogel):
  customer 2 May.
- Anna Berg: marketing contact 20 Apr 21:30 (paid_search), CRM contact C-2; deals D-2 created
  28 Apr 08:00, lost 15 May (8,000.00 USD = 7,360.00 EUR), and D-3 created 10 May, open
  (5,500.50 USD = 5,060.46 EUR).
- 李伟 (Li Wei): marketing contact 1 May 00:30 Berlin = 30 Apr 22:30 UTC (paid_search), MQL 5 May.
- Sofía Castillo: marketing contact 12 May 08:00 (referral).
- Kai Nord: only in the MQL export, 30 Apr 21:10 (lead and MQL; no channel).

Funnel, all channels (a skipped stage is passed through at the later stage's time):
- April: leads Jürgen, Anna, Li, Kai = 4; MQLs Jürgen, Kai and Anna (never marked MQL: passed
  through at her first deal, 28 Apr) = 3; SQLs (nobody converted: passed through at the first deal)
  Jürgen, Anna = 2; opportunities D-1, D-2 = 2; won 0. Lead→MQL 4/4 (Li became MQL in May);
  lead→won 1/4; MQL→won 1/3; opportunity→won 1/2 (D-1 of D-1, D-2). Median days first
  contact→won: Jürgen, 3 Apr 07:15 to 2 May 00:00 (the won date) = 28 days 16 h 45 min = 28.70.
- May: leads Sofía = 1; MQLs Li = 1; opportunities D-3 = 1; won D-1 = 1, 12,600.00 EUR. Lead→MQL 0,
  lead→won 0, MQL→won 0 (Li), opportunity→won 0 (D-3 open).
"""

import shutil
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing.config import PATHS

EXPORTS = PATHS.root / "tests" / "fixtures" / "exports" / "nordlicht"
AS_OF = date(2026, 5, 20)


@pytest.fixture
def exports(empty_warehouse, tmp_path, monkeypatch):
    """The exports in a folder of their own, configured as the only sources, and one run."""
    from smarketing import tasks

    folder = tmp_path / "nordlicht"
    shutil.copytree(EXPORTS, folder)
    (folder / "file_drops.yaml").write_text((EXPORTS / "file_drops.yaml").read_text()
                                            .replace("tests/fixtures/exports/nordlicht/", f"{folder}/"))
    shutil.copy(PATHS.root / "examples" / "file_drops" / "nurture.yaml", folder / "nurture.yaml")
    (folder / "kpis.yaml").write_text((PATHS.root / "config" / "kpis.yaml").read_text()
                                      .replace("exchange_rates: {}", "exchange_rates: {CHF: 1.05, USD: 0.92}"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(folder))
    stats = tasks.run_pipeline("nordlicht-1", AS_OF)
    return empty_warehouse, folder, stats


def rows(eng, query, **params):
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params).all()]


def test_the_funnel_worked_out_by_hand(exports):
    eng, _, stats = exports
    assert {drop: s["rows_quarantined"] for drop, s in stats["file_drops"].items()} == dict.fromkeys(
        ["mkt_contacts", "mkt_mqls", "crm_accounts", "crm_contacts", "crm_deals"], 0)
    funnel = rows(eng, "select month, leads, mqls, sqls, opportunities, won, won_amount, lead_to_mql_rate,"
                       " lead_to_won_rate, mql_to_won_rate, opportunity_to_won_rate, median_days_first_contact_to_won"
                       " from marts.funnel where channel = 'all' order by month")
    assert funnel == [
        (date(2026, 4, 1), 4, 3, 2, 2, 0, 0, Decimal("1"), Decimal("0.25"), Decimal("0.3333"), Decimal("0.5"),
         Decimal("28.70")),
        (date(2026, 5, 1), 1, 1, 0, 1, 1, Decimal("12600.00"), 0, 0, 0, 0, None),
    ]
    by_channel = rows(eng, "select channel, sum(leads), sum(mqls) from marts.funnel where channel <> 'all'"
                           " group by channel order by channel")
    assert by_channel == [("paid_search", 2, 2), ("referral", 1, 0), ("unknown", 1, 1), ("webinar", 1, 1)]


def test_people_companies_and_deals_arrive_whole(exports):
    eng, _, _ = exports
    people = rows(eng, "select email, first_name, last_name, a.name from core.active_person as p"
                       " left join core.account as a using (account_id) order by email")
    assert people == [
        ("anna.berg@fjord.example", "Anna", "Berg", "Fjord AS"),
        ("jurgen.mueller@nordlicht.example", "Jürgen", "Müller", "Nordlicht AG"),
        ("kai.nord@nordlicht.example", None, "Nord", "Nordlicht AG"),  # the account of its domain
        ("li.wei@example.cn", "伟", "李", None),
        ("sofia@castillo.example", "Sofía", "Castillo", None),
    ]
    deals = rows(eng, "select o.source_record_id, o.stage_name, o.deal_amount, o.deal_currency, o.amount,"
                      " o.currency, o.is_closed, o.is_won, o.close_date, p.email, a.domain from core.opportunity as o"
                      " left join core.person as p using (person_id) left join core.account as a"
                      " on o.account_id = a.account_id order by 1")
    assert deals == [
        ("crm:D-1", "Closed Won", Decimal("12000.00"), "CHF", Decimal("12600.00"), "EUR", True, True,
         date(2026, 5, 2),
         "jurgen.mueller@nordlicht.example", "nordlicht.example"),
        ("crm:D-2", "Closed Lost", Decimal("8000.00"), "USD", Decimal("7360.00"), "EUR", True, False,
         date(2026, 5, 15),
         "anna.berg@fjord.example", "fjord.example"),
        ("crm:D-3", "Proposal/Price Quote", Decimal("5500.50"), "USD", Decimal("5060.46"), "EUR", False, False,
         None,
         "anna.berg@fjord.example", "fjord.example"),
    ]
    owners = rows(eng, "select owner_name, segment, closed_opportunities, won_opportunities"
                       " from marts.sales_performance order by owner_name")
    assert owners == [("Lena Vogel", "Manufacturing", 1, 1), ("Max Kern", "Shipping", 1, 0)]
    members = rows(eng, "select email from nurture.list_members where program = 'recent_customers'")
    assert members == [("jurgen.mueller@nordlicht.example",)]


def test_a_deal_gone_from_the_next_snapshot_is_deleted_at_the_source(exports):
    """crm_deals is a snapshot drop: D-3 missing from the next export is marked deleted."""
    from smarketing import tasks

    eng, folder, _ = exports
    deals = folder / "crm_deals" / "deals.csv"
    deals.write_text("".join(line for line in deals.read_text().splitlines(keepends=True)
                             if not line.startswith("D-3")))
    stats = tasks.run_pipeline("nordlicht-2", AS_OF)
    assert stats["file_drops"]["crm_deals"]["rows_deleted"] == 1
    assert rows(eng, "select record_id from staging.stg_file__deals where is_deleted") == [("crm:D-3",)]
    assert rows(eng, "select source_record_id from core.opportunity order by 1") == [("crm:D-1",), ("crm:D-2",)]
