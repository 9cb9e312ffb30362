"""The conventions of docs/kpis.md ("Conventions every mart follows"), each checked on a world
built for its edge cases from file drops (tab-separated, no API), as of Tuesday 30 June 2026 in UTC.
Every convention the catalog states has a check here, and every check a convention.

- W1 (channel "Webinar", a lead since 2025-04-01 00:00) has deal D1 created 2026-05-10 12:00. Her
  campaign responses: K1 at D1's creation instant (counts), K2 exactly 365 days before (does not),
  K3 a second after that (counts), K5 on 2026-01-01 (counts), K4 at her lead's creation instant
  (makes D1 marketing-sourced; far outside D1's window).
- U1 has no channel in any record: channel `unknown`.
- S1 was converted (SQL 06-05) and never marked MQL: an MQL at 06-05, passed through.
- O1 became MQL on Friday 06-05 17:00 and got a call on Monday 06-08 09:00: 64 calendar hours.
- F1's deal D3 (Negotiation/Review, 1,000 EUR, no probability of its own: 75 %) was expected to
  close on 06-10 and is still open: overdue. Her deal D4 (900 EUR, created 05-15) was won on 08-15
  and has no stage history: on 06-30 it was open in a stage nobody knows.
- N1's deal D2 was won on 06-15 for 700 USD, and no USD rate exists: it has no amount.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing.config import PATHS
from tests.fixtures.drops import files_only

AS_OF = date(2026, 6, 30)
T = "\t"
FILES = {
    "contacts": ["id email first last channel created mql sql".split(),
                 ["W1", "w1@kunde.example", "Wiebke", "Weiß", "Webinar", "2025-04-01T00:00:00Z", "2025-04-02T00:00:00Z",
                  "2026-05-01T00:00:00Z"],
                 ["U1", "u1@kunde.example", "Ulla", "Ünal", "", "2026-06-02T00:00:00Z", "", ""],
                 ["S1", "s1@kunde.example", "Sven", "Sørensen", "PAID_SEARCH", "2026-06-01T00:00:00Z", "",
                  "2026-06-05T00:00:00Z"],
                 ["O1", "o1@kunde.example", "Olga", "Орлова", "PAID_SEARCH", "2026-06-03T00:00:00Z",
                  "2026-06-05T17:00:00Z", ""],
                 ["N1", "n1@kunde.example", "Nils", "Nyström", "PAID_SEARCH", "2026-04-01T00:00:00Z", "", ""],
                 ["F1", "f1@kunde.example", "Fatma", "Frías", "PAID_SEARCH", "2026-04-01T00:00:00Z",
                  "2026-04-02T00:00:00Z", "2026-04-03T00:00:00Z"]],
    "deals": ["id contact stage amount currency created close won".split(),
              ["D1", "W1", "Prospecting", "500", "EUR", "2026-05-10T12:00:00Z", "2026-09-30", ""],
              ["D2", "N1", "Closed Won", "700", "USD", "2026-04-02T00:00:00Z", "", "2026-06-15T10:00:00Z"],
              ["D3", "F1", "Negotiation/Review", "1000", "EUR", "2026-05-01T00:00:00Z", "2026-06-10", ""],
              ["D4", "F1", "Closed Won", "900", "EUR", "2026-05-15T00:00:00Z", "", "2026-08-15T10:00:00Z"]],
    "stages": ["id deal stage at".split(),
               ["H1", "D1", "Prospecting", "2026-05-10T12:00:00Z"],
               ["H2", "D3", "Negotiation/Review", "2026-05-01T00:00:00Z"],
               ["H3", "D2", "Qualification", "2026-04-02T00:00:00Z"],
               ["H4", "D2", "Closed Won", "2026-06-15T10:00:00Z"]],
    "campaigns": ["id name type".split(), *[[f"K{n}", f"Kampagne {n}", "Webinar"] for n in range(1, 6)]],
    "members": ["id campaign contact responded at".split(),
                ["M1", "K1", "W1", "ja", "2026-05-10T12:00:00Z"],
                ["M2", "K2", "W1", "ja", "2025-05-10T12:00:00Z"],
                ["M3", "K3", "W1", "ja", "2025-05-10T12:00:01Z"],
                ["M4", "K4", "W1", "ja", "2025-04-01T00:00:00Z"],
                ["M5", "K5", "W1", "ja", "2026-01-01T00:00:00Z"]],
    "activities": ["id type when contact".split(), ["A1", "call", "2026-06-08T09:00:00Z", "O1"]],
}
DROPS = """drops:
  contacts: {entity: contacts, location: {f}/contacts, delimiter: "\\t", columns: {email: email, first: first_name,
             last: last_name, channel: origin_channel, created: first_contact_date, mql: mql_date, sql: sql_date}}
  deals: {entity: deals, location: {f}/deals, delimiter: "\\t", columns: {contact: contact_id, stage: stage,
          amount: amount, currency: currency, created: created_date, close: close_date, won: won_date}}
  stages: {entity: deal_stages, location: {f}/stages, delimiter: "\\t", columns: {deal: deal_id, stage: stage,
           at: changed_at}}
  campaigns: {entity: campaigns, location: {f}/campaigns, delimiter: "\\t", columns: {name: name, type: type}}
  members: {entity: campaign_members, location: {f}/members, delimiter: "\\t", columns: {campaign: campaign_id,
            contact: contact_id, responded: responded, at: responded_at}}
  activities: {entity: activities, location: {f}/activities, delimiter: "\\t", columns: {type: type,
               when: occurred_at, contact: contact_id}}
"""


@pytest.fixture(scope="module")
def world(engine, tmp_path_factory):
    from smarketing import tasks
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    tables = {name: "".join(T.join(line) + "\n" for line in lines) for name, lines in FILES.items()}
    folder = files_only(tmp_path_factory.mktemp("conventions"), tables,
                        DROPS.replace("location: ", "pattern: '*.tsv', location: "), suffix="tsv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        tasks.load_file_drops("conventions", AS_OF)
        tasks.validate("conventions", AS_OF)
        merged = tasks.merge("conventions", AS_OF)  # D2's missing USD rate would fail the run's quality gate
        tasks.refresh_kpis("conventions", AS_OF)
    assert merged["missing_rates"], "the premise: D2 has no rate"
    return engine


def rows(eng, query, **params):
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


def conventions() -> list[str]:
    """The bold titles of the catalog's conventions list."""
    page = (PATHS.root / "docs" / "kpis.md").read_text(encoding="utf-8")
    section = page.split("Conventions every mart follows", 1)[1].split("\n###", 1)[0]
    return re.findall(r"^- \*\*(.+?)\*\*", section, flags=re.M)


# -- one check per convention ------------------------------------------------------------------------

DECIMALS = [  # (how a numeric column is recognised, the decimals the catalog allows)
    (re.compile(r"_credit$|revenue_share$"), 6),
    (re.compile(r"_rate(_by_\w+)?$|^share_|_share$|_growth$|accuracy$|^wape_"), 4),
    (re.compile(r"days|hours"), 2),
]


def check_rounding(eng, _):
    numeric = rows(eng, "select table_name, column_name, numeric_precision, numeric_scale"
                        " from information_schema.columns where table_schema = 'marts' and data_type = 'numeric'")
    assert numeric
    wrong = []
    for table, column, precision, scale in numeric:
        if (precision, scale) == (18, 2):  # money
            continue
        allowed = next((n for pattern, n in DECIMALS if pattern.search(column)), None)
        if allowed is None:
            wrong.append(f"marts.{table}.{column}: numeric({precision}, {scale}), and no rounding rule names it")
        elif rows(eng, f"select count(*) from marts.{table} where {column} <> round({column}, {allowed})") != [(0,)]:
            wrong.append(f"marts.{table}.{column} has more than {allowed} decimals")
    assert not wrong, "; ".join(wrong)
    # the world has values that need rounding: a third of June's leads, a third of D1's touches
    assert rows(eng, "select lead_to_mql_rate from marts.funnel where month = '2026-06-01' and channel = 'all'") == [
        (Decimal("0.6667"),)]
    assert rows(eng, "select campaign_name, linear_credit from marts.attribution order by 1") == [
        ("Kampagne 1", Decimal("0.333333")), ("Kampagne 3", Decimal("0.333333")), ("Kampagne 5", Decimal("0.333333"))]


def check_unknown_channel(eng, _):
    assert rows(eng, "select sum(leads) from marts.funnel where channel = 'unknown'") == [(1,)]  # U1
    assert rows(eng, "select p.email from marts.lead_to_revenue as l join core.person as p using (person_id)"
                     " where l.source_channel = 'unknown'") == [("u1@kunde.example",)]
    assert rows(eng, "select (select count(*) from marts.funnel where channel is null)"
                     " + (select count(*) from marts.lead_to_revenue where source_channel is null)"
                     " + (select count(*) from marts.attribution where channel is null)") == [(0,)]


def check_windows(eng, _):
    # K1 at the creation instant and K3 a second inside the 365 days count; K2 exactly 365 days before does not
    assert rows(eng, "select campaign_name, touches from marts.attribution order by 1") == [
        ("Kampagne 1", 1), ("Kampagne 3", 1), ("Kampagne 5", 1)]
    assert rows(eng, "select campaign_name, first_touch_credit, last_touch_credit from marts.attribution"
                     " where first_touch_credit + last_touch_credit > 0 order by 1") == [
        ("Kampagne 1", 0, 1), ("Kampagne 3", 1, 0)]
    # K4 at the lead's creation instant makes D1 marketing-sourced although "Webinar" is no marketing channel
    assert rows(eng, "select o.source_record_id, p.is_marketing_sourced, p.is_marketing_influenced"
                     " from marts.pipeline as p join core.opportunity as o using (opportunity_id) order by 1") == [
        ("D1", True, True), ("D2", True, False), ("D3", True, False), ("D4", True, False)]  # by their channel


def check_no_amount(eng, _):
    # D2 is June's won deal and N1's order, but adds nothing to a sum
    assert rows(eng, "select won, won_amount from marts.funnel where month = '2026-06-01' and channel = 'all'") == [
        (1, Decimal("0.00"))]
    assert rows(eng, "select frequency, revenue from marts.customer_segments") == [(1, Decimal("0.00"))]
    assert rows(eng, "select actual_won from marts.forecast where month = '2026-06-01'") == [(Decimal("0.00"),)]
    # and the KPI report says so beside its figures
    from smarketing.kpi_report import render

    html, _ = render(eng)
    assert "Deals without an exchange rate into EUR, in no sum above: 1 in USD" in html


def check_skipped_stages(eng, _):
    assert rows(eng, "select mqls, mqls_passed_through, sqls, sqls_passed_through from marts.funnel"
                     " where month = '2026-06-01' and channel = 'all'") == [(2, 1, 1, 0)]  # O1 and S1; S1's SQL
    assert rows(eng, "select p.email, l.mql_at, l.skipped_stages from marts.lead_to_revenue as l"
                     " join core.person as p using (person_id) where l.skipped_stages is not null order by 1") == [
        ("n1@kunde.example", datetime(2026, 4, 2, tzinfo=UTC), "mql, sql"),  # at D2's creation
        ("s1@kunde.example", datetime(2026, 6, 5, tzinfo=UTC), "mql")]
    # S1 and N1 passed through MQL: no response time
    assert rows(eng, "select p.email from marts.lead_response_time join core.person as p using (person_id)"
                     " order by 1") == [("f1@kunde.example",), ("o1@kunde.example",), ("w1@kunde.example",)]


def check_lead_response(eng, _):
    assert rows(eng, "select r.response_hours, r.response_business_hours, r.is_within_sla"
                     " from marts.lead_response_time as r join core.person as p using (person_id)"
                     " where p.email = 'o1@kunde.example'") == [(Decimal("64.00"), None, False)]


def check_forecast(eng, _):
    # D3, due 06-10 and open, is June's; the end-of-May snapshot expected it in June at 75 %. D4, won
    # in August, is open in August at an unknown stage, weighted 0 (its Closed Won would tell), in the
    # as-of pipeline and in the end-of-May snapshot alike
    assert rows(eng, "select month, open_pipeline, weighted_pipeline, forecast_at_month_start from marts.forecast"
                     " where open_pipeline > 0 or forecast_at_month_start > 0 order by 1") == [
        (date(2026, 6, 1), Decimal("1000.00"), Decimal("750.00"), Decimal("750.00")),
        (date(2026, 8, 1), Decimal("900.00"), Decimal("0.00"), None),
        (date(2026, 9, 1), Decimal("500.00"), Decimal("50.00"), None)]
    assert rows(eng, "select d.stage_name, d.probability, d.close_date from core.opportunity_daily as d"
                     " join core.opportunity as o using (opportunity_id)"
                     " where o.source_record_id = 'D4' and d.snapshot_date = '2026-05-31'") == [
        (None, None, date(2026, 8, 15))]


def check_stage_probabilities(eng, tmp_path):
    from smarketing import settings

    shipped = (PATHS.root / "config" / "kpis.yaml").read_text(encoding="utf-8")
    (tmp_path / "kpis.yaml").write_text(shipped.replace("  Closed Lost: 0\n", ""), encoding="utf-8")
    assert settings.check_all() == {}
    assert [p.split(": ", 1)[1] for p in settings.check_all(tmp_path)["kpis"]] == [
        f"stage_probabilities: no probability for Closed Lost (stages of {PATHS.root / 'config' / 'quality.yaml'}"
        " parameters.pipeline_stages); give each stage one, 0 included"]


CHECKS = {
    "Rounding": check_rounding,
    "`unknown` channel": check_unknown_channel,
    "Windows": check_windows,
    "No amount": check_no_amount,
    "Skipped stages are passed through": check_skipped_stages,
    "Lead response": check_lead_response,
    "Forecast": check_forecast,
    "Stage probabilities": check_stage_probabilities,
}


def test_every_convention_of_the_catalog_has_a_check():
    assert conventions() == list(CHECKS)


@pytest.mark.parametrize("convention", list(CHECKS))
def test_the_convention_holds(world, convention, tmp_path):
    CHECKS[convention](world, tmp_path)
