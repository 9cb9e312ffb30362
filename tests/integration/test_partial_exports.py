"""Real exports are partial: no lead dates, no channel, no addresses, dates that contradict each
other, one deal far above the rest. Each finding of a trial on such exports, through the files.

The exports (as of 2026-06-30, amounts in EUR):
- L1: first contact 10 May, no channel; won 2 May, 2,000 (a deal won before the first contact).
- L2, L3: only an MQL date, 15 and 20 March (an MQL export without lead dates); L3 has no address.
- L4-L7: first contact 1 April, won 20 April: 1,000, 1,100, 900 and 12,000 declared revenue.
- L8, L9: no address, first contact 1 June, won 20 June: 1,500 and 1,600.
- L404: a deal won 20 June, 1,000, for a lead no export delivered.
Won deals: 2,000, 1,000, 1,100, 900, 12,000, 1,500, 1,600, 1,000; median 1,300, median absolute
deviation 300: 12,000 has a modified z-score of 10,700 / (1.4826 x 300) = 24 (over 3.5) and is
57 % of the won amount, the one outlier.
"""

from datetime import date

import pytest
from sqlalchemy import text

from tests.fixtures.drops import files_only

AS_OF = date(2026, 6, 30)
LEADS = """Lead;E-Mail;Kanal;Erstkontakt;MQL
L1;l1@partial.example;;10.05.2026;
L2;l2@partial.example;Web;;15.03.2026
L3;;Web;;20.03.2026
L4;l4@partial.example;Web;01.04.2026;
L5;l5@partial.example;Web;01.04.2026;
L6;l6@partial.example;Web;01.04.2026;
L7;l7@partial.example;Web;01.04.2026;
L8;;Web;01.06.2026;
L9;;Web;01.06.2026;
"""
DEALS = """Lead;Gewonnen;Betrag;Erklaert
L1;02.05.2026;2.000,00;
L4;20.04.2026;1.000,00;
L5;20.04.2026;1.100,00;
L6;20.04.2026;900,00;
L7;20.04.2026;;12.000,00
L8;20.06.2026;1.500,00;
L9;20.06.2026;1.600,00;
L404;20.06.2026;1.000,00;
"""
DROPS = """drops:
  leads:
    entity: leads
    location: {f}/leads
    delimiter: ";"
    id_column: Lead
    columns: {E-Mail: email, Kanal: origin_channel, Erstkontakt: first_contact_date, MQL: mql_date}
    date_format: "%d.%m.%Y"
  deals:
    entity: deals
    location: {f}/deals
    delimiter: ";"
    id_column: Lead
    columns: {Lead: lead_id, Gewonnen: won_date, Betrag: amount, Erklaert: declared_amount}
    constants: {currency: EUR}
    date_format: "%d.%m.%Y"
    decimal: ","
"""


@pytest.fixture(scope="module")
def partial(engine, tmp_path_factory):
    from smarketing import tasks
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    folder = files_only(tmp_path_factory.mktemp("partial"), {"leads": LEADS, "deals": DEALS},
                        DROPS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        stats = tasks.run_pipeline("partial", AS_OF)
    return engine, stats


def rows(eng, query):
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query)).all()]


def test_months_come_from_every_stage_date(partial):
    """With MQL dates and no lead dates, March's MQLs vanished from the funnel. L2 and L3 are leads at
    their MQL (passed through), L4-L7 MQLs at their deals (20 April)."""
    eng, _ = partial
    assert rows(eng, "select month, leads, leads_passed_through, mqls, mqls_passed_through from marts.funnel"
                     " where channel = 'all' order by month")[:2] == [
        (date(2026, 3, 1), 2, 2, 2, 0), (date(2026, 4, 1), 4, 0, 4, 4)]


def test_a_deal_won_before_the_first_contact_is_a_warning_and_history_moves_forward(partial):
    eng, stats = partial
    assert stats["merge"]["core_checks"]["won_before_first_contact"] == 1
    assert rows(eng, "select unexpected_count, element_count, severity from meta.dq_results"
                     " where suite = 'core' and check_name = 'won_before_first_contact'") == [(1, 7, "warning")]
    current = rows(eng, "select h.lifecycle_stage, p.lifecycle_stage from core.person_lifecycle_history as h"
                        " join core.person as p using (person_id)"
                        " where h.is_current and p.email = 'l1@partial.example'")
    assert current == [("customer", "customer")]
    inconsistent = rows(eng, "select count(*) from core.person_lifecycle_history as h join core.person as p"
                             " using (person_id) where h.is_current and h.lifecycle_stage <> p.lifecycle_stage")
    assert inconsistent == [(0,)]


def test_one_deal_far_above_the_others_and_one_of_nobody_are_flagged(partial):
    eng, stats = partial
    assert stats["merge"]["core_checks"] == {"amount_outlier": 1, "close_before_created": 0,
                                             "deal_person_unknown": 1, "unmapped_deal_stage": 0,
                                             "company_without_account": 0, "won_before_first_contact": 1}


def test_one_label_for_an_unknown_channel(partial):
    eng, _ = partial
    assert rows(eng, "select r.source_channel from marts.lead_to_revenue as r join core.person as p"
                     " using (person_id) where p.email = 'l1@partial.example'") == [("unknown",)]
    assert ("unknown",) in rows(eng, "select distinct channel from marts.funnel")


def test_no_forecast_gives_no_accuracy(partial):
    """Nothing was ever open, so no month had a forecast: accuracy is empty, not 0."""
    eng, _ = partial
    assert rows(eng, "select month, actual_won, forecast_accuracy from marts.forecast where actual_won > 0"
                     " order by month") == [(date(2026, 4, 1), 15000, None), (date(2026, 5, 1), 2000, None),
                                            (date(2026, 6, 1), 4100, None)]


def test_the_summary_says_why_a_list_is_empty_and_shows_the_warnings(partial):
    from smarketing.report import summary

    eng, _ = partial
    assert rows(eng, "select members, eligible, suppressed_reasons from nurture.list_runs"
                     " where program = 'recent_customers'") == [(0, 2, {"no_email": 2})]
    shown = summary(eng, "postgresql://x@y/z", AS_OF)
    assert ("  recent_customers: 0 members (2 eligible, 2 kept off: no_email 2)" in shown
            and "    empty because no eligible person has an email address" in shown)
    assert ("6 cross-entity checks on core (sql/quality/core): warnings: amount_outlier 1 of 8,"
            " deal_person_unknown 1 of 8, won_before_first_contact 1 of 7") in shown
