from datetime import timedelta

import pytest
from sqlalchemy import text

from smarketing.demo.world import DemoSource
from smarketing.landing import land_entity, land_source


def raw_count(eng, table):
    with eng.connect() as conn:
        return conn.execute(text(f"select count(*) from {table}")).scalar()


def test_landing_loads_every_record_once_and_advances_the_cursor(empty_warehouse, demo_dataset):
    source = DemoSource("salesforce", demo_dataset, page_size=17)
    stats = {s.entity: s for s in land_source(empty_warehouse, source, "run-1")}
    for entity in source.entities:
        expected = demo_dataset.count("salesforce", entity)
        assert raw_count(empty_warehouse, f"raw.salesforce__{entity}") == expected
        assert stats[entity].new == stats[entity].received == expected
        newest = demo_dataset.records[("salesforce", entity)][-1].version_at
        assert stats[entity].cursor_at == newest


def test_rerunning_the_same_window_adds_nothing(empty_warehouse, demo_dataset):
    source = DemoSource("hubspot", demo_dataset, page_size=50)
    land_source(empty_warehouse, source, "run-1")
    again = land_entity(empty_warehouse, source, "email_events", "run-2", lookback=timedelta(days=3650))
    assert again.received == demo_dataset.count("hubspot", "email_events")
    assert again.new == 0
    assert raw_count(empty_warehouse, "raw.hubspot__email_events") == demo_dataset.count("hubspot", "email_events")


class CrashingSource(DemoSource):
    """Fails after ``pages_before_crash`` pages, like a connection dropping mid-sequence."""

    def __init__(self, *args, pages_before_crash, **kwargs):
        super().__init__(*args, **kwargs)
        self.pages_before_crash = pages_before_crash

    def extract(self, entity, since):
        for n, page in enumerate(super().extract(entity, since)):
            if n == self.pages_before_crash:
                raise ConnectionError("connection reset by peer")
            yield page


def test_a_crash_mid_sequence_resumes_without_loss_or_duplicates(empty_warehouse, demo_dataset):
    total = demo_dataset.count("hubspot", "email_events")
    crashing = CrashingSource("hubspot", demo_dataset, page_size=100, pages_before_crash=3)
    with pytest.raises(ConnectionError):
        land_entity(empty_warehouse, crashing, "email_events", "run-1")
    assert raw_count(empty_warehouse, "raw.hubspot__email_events") == 300

    resumed = land_entity(empty_warehouse, DemoSource("hubspot", demo_dataset, page_size=100), "email_events", "run-2")
    assert resumed.new == total - 300
    assert raw_count(empty_warehouse, "raw.hubspot__email_events") == total
    with empty_warehouse.connect() as conn:
        rows_total = conn.execute(text("select rows_total from meta.sync_state where entity = 'email_events'")).scalar()
    assert rows_total == total


def test_a_nul_character_in_a_payload_does_not_stop_the_page(empty_warehouse):
    """PostgreSQL's jsonb cannot hold NUL: it lands as U+FFFD, with the rest of the page."""
    from datetime import UTC, datetime

    from smarketing.landing import land_page
    from smarketing.sources.base import RawRecord

    at = datetime(2026, 6, 1, tzinfo=UTC)
    page = [RawRecord("1", at, {"properties": {"company": "Null\x00 Corp", "tags": ["a\x00"]}}),
            RawRecord("2", at, {"properties": {"company": "Back\\slash \\u0000 text"}})]
    assert land_page(empty_warehouse, "hubspot", "contacts", page, "run-1", at) == 2
    with empty_warehouse.connect() as conn:
        stored = dict(conn.execute(text("select record_id, payload from raw.hubspot__contacts")).all())
    assert stored["1"]["properties"] == {"company": "Null\ufffd Corp", "tags": ["a\ufffd"]}
    assert stored["2"]["properties"]["company"] == "Back\\slash \\u0000 text"  # escaped text stays as it was


@pytest.mark.parametrize("mode", ["share update exclusive", "row exclusive"])
def test_a_page_lands_while_the_table_is_vacuumed_or_loaded_elsewhere(empty_warehouse, warehouse_url, mode):
    """Found by the bench: each page re-ran `create index if not exists`, which locks the table
    against (auto)vacuum and analyze (share update exclusive) and against another loader's
    inserts (row exclusive); the incremental landing waited a second a page for autovacuum to
    give way. A table that is ready is only looked up."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from smarketing.landing import land_page
    from smarketing.sources.base import RawRecord

    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert land_page(empty_warehouse, "hubspot", "contacts", [RawRecord("1", at, {"id": "1"})], "run-1", at) == 1
    patient = create_engine(warehouse_url.replace("postgresql://", "postgresql+psycopg://", 1),
                            connect_args={"options": "-c lock_timeout=3000"})
    try:
        with empty_warehouse.connect() as other:
            other.exec_driver_sql(f"lock table raw.hubspot__contacts in {mode} mode")
            page = [RawRecord("2", at, {"id": "2"}), RawRecord("3", at, {"id": "3"})]
            assert land_page(patient, "hubspot", "contacts", page, "run-2", at) == 2
            other.rollback()
    finally:
        patient.dispose()
    assert raw_count(empty_warehouse, "raw.hubspot__contacts") == 3
