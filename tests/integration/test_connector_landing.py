"""Landing through the connectors: a crash mid-sequence and a drifting schema, in the warehouse."""

from datetime import timedelta

import pytest
from sqlalchemy import text

from smarketing.demo.fakes import Fault
from smarketing.landing import land_entity
from smarketing.sources.http_client import RetriesExhausted
from tests.unit.test_connectors import T0, salesforce_source, sf_lead


def test_a_crash_mid_sequence_resumes_without_loss_or_duplicates(empty_warehouse, salesforce):
    for n in range(1000):
        salesforce.put(sf_lead(n, T0 + timedelta(minutes=n)))
    salesforce.inject(Fault(500, times=99, path="/services/data/v62.0/query/", after=2))
    with pytest.raises(RetriesExhausted):
        land_entity(empty_warehouse, salesforce_source(salesforce), "leads", "run-1")
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from raw.salesforce__leads")).scalar() == 600
    salesforce.faults.clear()
    resumed = land_entity(empty_warehouse, salesforce_source(salesforce), "leads", "run-2")
    again = land_entity(empty_warehouse, salesforce_source(salesforce), "leads", "run-3", lookback=timedelta(days=1))
    with empty_warehouse.connect() as conn:
        landed = conn.execute(text("select count(*), count(distinct record_id) from raw.salesforce__leads")).one()
    assert resumed.new == 400
    assert again.new == 0 and again.received == 1000
    assert tuple(landed) == (1000, 1000)


def test_schema_drift_a_new_field_lands_and_staging_still_reads(empty_warehouse, warehouse_url, salesforce):
    salesforce.put(sf_lead(1, T0))
    land_entity(empty_warehouse, salesforce_source(salesforce), "leads", "run-1")
    salesforce.put(sf_lead(1, T0 + timedelta(days=1), Email="new@example.com", Rating__c="Hot"))
    land_entity(empty_warehouse, salesforce_source(salesforce, extra_fields={"leads": ["Rating__c"]}), "leads",
                "run-2")
    from smarketing.quality import validate_pending
    from smarketing.transform import refresh_staging

    validate_pending(empty_warehouse, warehouse_url, "run-2", [("salesforce", "leads")])
    with empty_warehouse.begin() as conn:
        refresh_staging(conn)
        payloads = conn.execute(text("select payload ->> 'Rating__c' from raw.salesforce__leads order by version_at"))
        staged = conn.execute(text("select lead_id, email from staging.stg_salesforce__leads")).all()
        assert [p for (p,) in payloads] == [None, "Hot"]
    assert staged == [("00Q000000000000001", "new@example.com")]




def test_a_field_that_vanishes_is_reported_once_and_the_sync_goes_on(empty_warehouse, salesforce, caplog):
    """A custom field deleted in the org between runs: the next run lands without it and says so
    once; the run after says nothing."""
    salesforce.put(sf_lead(1, T0, Rating__c="Hot"))
    custom = {"leads": ["Rating__c"]}
    with caplog.at_level("WARNING", logger="smarketing.landing"):
        land_entity(empty_warehouse, salesforce_source(salesforce, extra_fields=custom), "leads", "run-1")
        salesforce.remove_field("Lead", "Rating__c")
        salesforce.put(sf_lead(2, T0 + timedelta(days=1)))
        second = land_entity(empty_warehouse, salesforce_source(salesforce, extra_fields=custom), "leads", "run-2")
        land_entity(empty_warehouse, salesforce_source(salesforce, extra_fields=custom), "leads", "run-3")
    assert second.new == 1
    assert [r.getMessage() for r in caplog.records if r.name == "smarketing.landing"] == [
        "salesforce leads: the fields read changed since the last run: no longer there: Rating__c"]


def test_a_resync_of_an_entity_that_never_landed_anything_finds_nothing_gone(empty_warehouse, salesforce):
    stats = land_entity(empty_warehouse, salesforce_source(salesforce), "users", "run-1", resync=True)
    assert (stats.received, stats.deleted) == (0, 0)
