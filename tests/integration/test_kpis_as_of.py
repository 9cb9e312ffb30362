"""The marts as of a past date know nothing of what happened after it (issue: a rebuild for
2026-06-15 showed June's wins up to 06-30). Built from the demo's source records, refreshed for
the middle of June while the warehouse holds the whole month."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.demo.world import DemoSource
from smarketing.kpis import kpi_settings, refresh_marts
from smarketing.landing import land_source
from tests.conftest import reset_warehouse

MID_JUNE = date(2026, 6, 15)
CUTOFF = datetime(2026, 6, 16, tzinfo=UTC)  # the end of the as-of day in the reporting time zone (UTC)


@pytest.fixture(scope="module")
def mid_june(engine, demo_dataset):
    reset_warehouse(engine)
    for system in ("hubspot", "salesforce"):
        land_source(engine, DemoSource(system, demo_dataset), "as-of")
    tasks.validate("as-of", date(2026, 6, 30))
    tasks.merge("as-of", date(2026, 6, 30))
    refresh_marts(engine, MID_JUNE, kpi_settings())
    return engine


def one(eng, query, **params):
    with eng.connect() as conn:
        return conn.execute(text(query), params).one()


def test_the_data_holds_june_after_the_as_of_date(mid_june):
    """The premise: deals won, people qualified and activities after 06-15 are in core."""
    later = one(mid_june, "select (select count(*) from core.opportunity where is_won and close_date > :d),"
                          " (select count(*) from core.activity where occurred_at >= :c)", d=MID_JUNE, c=CUTOFF)
    assert all(n > 0 for n in later)


def test_june_counts_only_what_happened_by_the_fifteenth(mid_june):
    june = one(mid_june, "select leads, mqls, sqls, opportunities, won, won_amount from marts.funnel"
                         " where month = '2026-06-01' and channel = 'all'")
    known = one(mid_june, """
        select (select count(*) from core.active_person where lead_created_at >= '2026-06-01' and lead_created_at < :c),
               (select count(*) from core.active_person where mql_at >= '2026-06-01' and mql_at < :c),
               (select count(*) from core.active_person where sql_at >= '2026-06-01' and sql_at < :c),
               (select count(*) from core.opportunity where created_at >= '2026-06-01' and created_at < :c),
               (select count(*) from core.opportunity where is_won and close_date between '2026-06-01' and :d
                   and created_at < :c),
               (select coalesce(sum(amount), 0) from core.opportunity where is_won
                   and close_date between '2026-06-01' and :d and created_at < :c)""", c=CUTOFF, d=MID_JUNE)
    assert tuple(june) == tuple(known)


def test_rates_and_responses_use_nothing_after_the_as_of_date(mid_june):
    late = one(mid_june, """
        select (select count(*) from marts.lead_response_time where first_activity_at >= :c or mql_at >= :c),
               (select count(*) from marts.lead_to_revenue where greatest(lead_created_at, mql_at, sql_at,
                   first_opportunity_at, customer_at) >= :c),
               (select count(*) from marts.pipeline as p join core.opportunity as o using (opportunity_id)
                   where o.created_at >= :c or (p.is_won and o.close_date > :d)),
               (select count(*) from marts.attribution as a join core.opportunity as o using (opportunity_id)
                   where o.created_at >= :c or (a.is_won and o.close_date > :d))""", c=CUTOFF, d=MID_JUNE)
    assert tuple(late) == (0, 0, 0, 0)
    # a deal won on 06-20 was open on 06-15: it is in that day's open pipeline, not among the wins
    forecast = one(mid_june, "select actual_won, open_pipeline from marts.forecast where month = '2026-06-01'")
    won_by_then = one(mid_june, "select coalesce(sum(amount), 0) from core.opportunity where is_won"
                                " and close_date between '2026-06-01' and :d", d=MID_JUNE)[0]
    assert forecast.actual_won == won_by_then
    still_open = one(mid_june, "select coalesce(sum(amount), 0) from core.opportunity where created_at < :c"
                               " and (not is_closed or close_date > :d)", c=CUTOFF, d=MID_JUNE)[0]
    total_open = one(mid_june, "select sum(open_pipeline) from marts.forecast")[0]
    assert total_open == still_open


def test_moving_a_close_date_today_leaves_every_past_forecast_as_it_was(engine, demo_dataset):
    """A deal the end-of-March snapshot expected in April (and that was not won then) is moved to
    September by a later record version: every past snapshot, April's forecast and its accuracy
    stay what was known then."""
    from smarketing.landing import land_page
    from smarketing.sources.base import RawRecord

    june = date(2026, 6, 30)
    reset_warehouse(engine)
    for system in ("hubspot", "salesforce"):
        land_source(engine, DemoSource(system, demo_dataset), "snap-1")
    tasks.validate("snap-1", june)
    tasks.merge("snap-1", june)
    refresh_marts(engine, june, kpi_settings())
    snapshot = "select opportunity_id, stage_name, amount, probability, close_date from core.opportunity_daily" \
               " where snapshot_date < :d order by 1, close_date"
    with engine.connect() as conn:
        before = conn.execute(text(snapshot), {"d": june}).all()
        april = conn.execute(text("select forecast_at_month_start, forecast_accuracy from marts.forecast"
                                  " where month = '2026-04-01'")).one()
        record_id, payload = conn.execute(text("""
            select o.source_record_id, r.payload from core.opportunity_daily as d
            join core.opportunity as o using (opportunity_id)
            join raw.salesforce__opportunities as r on r.record_id = o.source_record_id
            where d.snapshot_date = '2026-03-31' and d.close_date between '2026-04-01' and '2026-04-30'
                and o.source = 'salesforce' and not o.is_won  -- a won deal's move would change April's actuals
            order by r.version_at desc limit 1""")).one()
    assert april.forecast_at_month_start and before
    moved = datetime(2026, 7, 1, 9, tzinfo=UTC)
    payload = {**payload, "CloseDate": "2026-09-30", "SystemModstamp": "2026-07-01T09:00:00.000+0000"}
    land_page(engine, "salesforce", "opportunities", [RawRecord(record_id, moved, payload)], "snap-2", moved)
    tasks.validate("snap-2", date(2026, 7, 1))
    tasks.merge("snap-2", date(2026, 7, 1))
    refresh_marts(engine, date(2026, 7, 1), kpi_settings())
    with engine.connect() as conn:
        assert conn.execute(text("select close_date from core.opportunity where source_record_id = :r"),
                            {"r": record_id}).scalar() == date(2026, 9, 30), "the move reached core"
        after = conn.execute(text(snapshot), {"d": june}).all()
        april_after = conn.execute(text("select forecast_at_month_start, forecast_accuracy from marts.forecast"
                                        " where month = '2026-04-01'")).one()
    assert after == before
    assert tuple(april_after) == tuple(april)
    # a backfill for 06-30 (a day that has ended) after the move leaves that day's snapshot as taken
    with engine.connect() as conn:
        june_30 = conn.execute(text(snapshot.replace("snapshot_date < :d", "snapshot_date = :d")), {"d": june}).all()
    again = datetime(2026, 7, 2, 9, tzinfo=UTC)  # moved once more: the deal is in the backfill's scope
    land_page(engine, "salesforce", "opportunities", [RawRecord(record_id, again, {
        **payload, "CloseDate": "2026-10-30", "SystemModstamp": "2026-07-02T09:00:00.000+0000"})], "snap-3", again)
    tasks.validate("snap-3", june)
    tasks.merge("snap-3", june)
    with engine.connect() as conn:
        assert conn.execute(text(snapshot.replace("snapshot_date < :d", "snapshot_date = :d")), {"d": june}).all() \
            == june_30 != []


def test_a_close_date_moved_after_the_as_of_date_is_not_known_then(engine, demo_dataset):
    """Salesforce writes an OpportunityHistory row for every change of stage, amount, probability or
    close date. An open deal the end-of-March snapshot expected in April is moved to September on
    07-01, and the warehouse first learns of it after the move. Built as of 06-30, every day's
    snapshot (taken now, from the history) and the as-of pipeline show the close date known then,
    as a warehouse built before the move did."""
    from smarketing.landing import land_page
    from smarketing.sources.base import RawRecord

    june = date(2026, 6, 30)
    snapshot = "select o.source_record_id, d.snapshot_date, d.stage_name, d.amount, d.probability, d.close_date" \
               " from core.opportunity_daily as d join core.opportunity as o using (opportunity_id) order by 1, 2"
    forecast = "select month, open_pipeline, weighted_pipeline, forecast_at_month_start from marts.forecast order by 1"

    def build(run_id, moved=None):
        reset_warehouse(engine)
        for system in ("hubspot", "salesforce"):
            land_source(engine, DemoSource(system, demo_dataset), run_id)
        if moved:
            at = datetime(2026, 7, 1, 9, tzinfo=UTC)
            record_id, payload = moved
            land_page(engine, "salesforce", "opportunities", [RawRecord(record_id, at, {
                **payload, "CloseDate": "2026-09-30", "SystemModstamp": "2026-07-01T09:00:00.000+0000"})], run_id, at)
            land_page(engine, "salesforce", "opportunity_history", [RawRecord("008MOVED", at, {
                "Id": "008MOVED", "OpportunityId": record_id, "StageName": payload["StageName"],
                "Amount": payload["Amount"], "Probability": payload["Probability"], "CloseDate": "2026-09-30",
                "CreatedDate": "2026-07-01T09:00:00.000+0000"})], run_id, at)
        tasks.validate(run_id, june)
        tasks.merge(run_id, june)
        refresh_marts(engine, june, kpi_settings())
        with engine.connect() as conn:
            return conn.execute(text(snapshot)).all(), conn.execute(text(forecast)).all()

    before = build("close-1")
    with engine.connect() as conn:  # an open deal a month-end snapshot expected in the month after
        record_id, payload = conn.execute(text("""
            select o.source_record_id, r.payload from core.opportunity_daily as d
            join core.opportunity as o using (opportunity_id)
            join raw.salesforce__opportunities as r on r.record_id = o.source_record_id
            where d.snapshot_date < '2026-06-30' and not o.is_closed and o.source = 'salesforce'
                and date_trunc('month', d.close_date) = date_trunc('month', d.snapshot_date + 1)
            order by d.snapshot_date, r.version_at desc limit 1""")).one()
    after = build("close-2", moved=(record_id, payload))
    with engine.connect() as conn:
        assert conn.execute(text("select close_date from core.opportunity where source_record_id = :r"),
                            {"r": record_id}).scalar() == date(2026, 9, 30), "the move reached core"
    assert after == before


def test_a_file_drops_deal_stages_carry_the_close_date_known_then(empty_warehouse, tmp_path, monkeypatch):
    """A CRM export's stage history with the close date of each change (semicolons, German dates): the
    deal was expected on 15 April until 5 May, then on 20 June. The end-of-March snapshot, taken from
    that history, expected it in April: April's month-start forecast is its 40,000 x 60 %."""
    from tests.fixtures.drops import files_only

    files = {
        "contacts": "id;email;created\nC1;c1@kunde.example;01.02.2026\n",
        "deals": "id;contact;stage;amount;created;close\nD1;C1;Qualification;40000;01.03.2026;20.06.2026\n",
        "stages": "id;deal;stage;at;probability;close\nH1;D1;Qualification;01.03.2026;60;15.04.2026\n"
                  "H2;D1;Qualification;05.05.2026;60;20.06.2026\n",
    }
    files_only(tmp_path, files, """drops:
  contacts: {entity: contacts, location: {f}/contacts, delimiter: ";", date_format: "%d.%m.%Y",
             columns: {email: email, created: first_contact_date}}
  deals: {entity: deals, location: {f}/deals, delimiter: ";", date_format: "%d.%m.%Y",
          columns: {contact: contact_id, stage: stage, amount: amount, created: created_date, close: close_date},
          constants: {currency: EUR}}
  stages: {entity: deal_stages, location: {f}/stages, delimiter: ";", date_format: "%d.%m.%Y",
           columns: {deal: deal_id, stage: stage, at: changed_at, probability: probability, close: close_date}}
""")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    tasks.run_pipeline("stages", date(2026, 6, 30))
    assert one(empty_warehouse, "select close_date from core.opportunity_daily where snapshot_date = '2026-03-31'") \
        == (date(2026, 4, 15),)
    assert one(empty_warehouse, "select forecast_at_month_start from marts.forecast where month = '2026-04-01'") \
        == (24000,)
    assert one(empty_warehouse, "select forecast_at_month_start from marts.forecast where month = '2026-06-01'") \
        == (24000,)  # the end-of-May snapshot knew of 20 June


def test_a_backdated_win_counts_as_won_on_its_close_date(empty_warehouse, tmp_path, monkeypatch):
    """The trial's D11: won on 28 May by its close date, entered in the CRM's stage history on
    10 June. As of 31 May it is won (a backdated fact counts), in the deals as in the persons: May
    has one win and a customer with one won deal, not a customer without one."""
    from tests.fixtures.drops import files_only

    files_only(tmp_path, {
        "contacts": "id|email|created\nC1|c1@kunde.example|2026-05-02\n",
        "deals": "id|contact|amount|created|won\nD11|C1|3000|2026-05-04|2026-05-28\n",
        "stages": "id|deal|stage|at\nH1|D11|Qualification|2026-05-04\nH2|D11|Closed Won|2026-06-10\n",
    }, """drops:
  contacts: {entity: contacts, location: {f}/contacts, delimiter: "|",
             columns: {email: email, created: first_contact_date}}
  deals: {entity: deals, location: {f}/deals, delimiter: "|", constants: {currency: EUR},
          columns: {contact: contact_id, amount: amount, created: created_date, won: won_date}}
  stages: {entity: deal_stages, location: {f}/stages, delimiter: "|",
           columns: {deal: deal_id, stage: stage, at: changed_at}}
""")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    tasks.run_pipeline("backdated", date(2026, 5, 31))
    assert one(empty_warehouse, "select won, won_amount from marts.funnel where month = '2026-05-01'"
                                " and channel = 'all'") == (1, 3000)
    assert one(empty_warehouse, "select won_opportunities, customer_at is not null from marts.lead_to_revenue") \
        == (1, True)
