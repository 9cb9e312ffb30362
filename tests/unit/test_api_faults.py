"""API faults beyond the connector tests: sustained 429s, timeouts, pages without their cursor, and
fuzzed records. Each either succeeds or stops with an error naming what was wrong."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smarketing.config import ConnectionInfo
from smarketing.demo.fakes import FakeHubSpot, FakeSalesforce, Fault
from smarketing.sources.base import SourceError
from smarketing.sources.http_client import RetriesExhausted, RetryPolicy
from smarketing.sources.hubspot import HubSpotSource
from smarketing.sources.salesforce import SalesforceSource

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def hubspot():
    fake = FakeHubSpot(token="t")
    fake.put("contacts", {"id": "1", "properties": {"lastmodifieddate": "2026-01-01T00:00:00.000Z"},
                          "archived": False})
    fake.start()
    yield fake
    fake.stop()


def source(fake, attempts=3, timeout=5.0):
    src = HubSpotSource(ConnectionInfo("hubspot_default", fake.url, password="t"), entities=("contacts",),
                        policy=RetryPolicy(max_attempts=attempts, base_delay=0, timeout=timeout),
                        now=T0 + timedelta(days=1))
    src.client.sleep = lambda _: None
    return src


def test_sustained_429s_stop_with_a_clear_message(hubspot):
    hubspot.inject(Fault(429, times=99, headers={"Retry-After": "0"}))
    with pytest.raises(RetriesExhausted, match="3 attempts \\(HTTP 429\\)"):
        list(source(hubspot).extract("contacts", None))


def test_a_timeout_is_retried(hubspot):
    hubspot.inject(Fault(200, times=1, path="/crm/v3/objects/contacts/search", delay=1.5, body="{}"))
    got = [r for page in source(hubspot, timeout=0.5).extract("contacts", None) for r in page]
    assert [r.record_id for r in got] == ["1"]


def test_a_page_without_its_cursor_stops_the_run(hubspot):
    hubspot.inject(Fault(200, times=1, path="/email/public/v1/events", body='{"events": [], "hasMore": true}'))
    src = HubSpotSource(ConnectionInfo("hubspot_default", hubspot.url, password="t"), entities=("email_events",),
                        now=T0 + timedelta(days=1))
    with pytest.raises(SourceError, match="hasMore=true without an offset"):
        list(src.extract("email_events", T0))


def test_a_salesforce_page_that_is_not_done_but_has_no_next_url_stops_the_run():
    fake = FakeSalesforce(client_id="k", client_secret="s")
    fake.inject(Fault(200, times=1, path="/services/data/v62.0/queryAll",
                      body='{"totalSize": 5, "done": false, "records": []}'))
    fake.start()
    try:
        src = SalesforceSource(ConnectionInfo("salesforce_default", fake.url, login="k", password="s"),
                               entities=("leads",))
        with pytest.raises(SourceError, match="done=false but has no nextRecordsUrl"):
            list(src.extract("leads", None))
    finally:
        fake.stop()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(record=st.one_of(json_values, st.fixed_dictionaries(
    {"id": json_values, "Id": json_values, "SystemModstamp": json_values,
     "properties": st.one_of(json_values, st.fixed_dictionaries({"lastmodifieddate": json_values}))})))
def test_record_parsers_accept_or_refuse_with_a_clear_error(record):
    for parse in (lambda r: HubSpotSource._crm_record("contacts", r, "lastmodifieddate"),
                  SalesforceSource._record):
        try:
            parsed = parse(record)
        except SourceError as exc:
            assert "record without a valid" in str(exc)
        else:
            assert parsed.record_id and parsed.version_at.tzinfo is not None
