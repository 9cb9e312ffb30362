"""The Mailchimp connector over real HTTP against the Mailchimp fake: an audience's members read
incrementally by last change, whole and once, while the audience changes under it; abuse reports;
retries. Landing and suppression from it: tests/integration/test_list_destinations.py."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from smarketing.config import ConnectionInfo
from smarketing.demo.fakes import FakeMailchimp, Fault
from smarketing.sources.base import SourceError
from smarketing.sources.http_client import AuthError, RetryPolicy
from smarketing.sources.mailchimp import MailchimpSource, client

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=5.0, timeout=5.0)


def source(fake, page_size=1000, key="demo-key-us21"):
    conn = ConnectionInfo("mailchimp_default", fake.url, password=key, extra={"page_size": page_size})
    made = MailchimpSource(conn, "aud", policy=FAST)
    made.client.sleep = lambda _: None
    return made


def members(made, since=None):
    return [r for page in made.extract("members", since) for r in page]


@pytest.fixture
def audience():
    """2,500 members, changed one a second from T0 (four share each second past 2,000: a bulk import)."""
    rows = [("aud", f"m{n}@example.com", "subscribed", None, None, T0 + timedelta(seconds=min(n, 2000 + n // 4)))
            for n in range(2500)]
    with FakeMailchimp(audiences={"aud": "Customers"}, members=rows) as fake:
        yield fake


def test_every_member_is_read_once_in_order_of_change(audience):
    read = members(source(audience, page_size=300))
    assert sorted(r.payload["email_address"] for r in read) == sorted(f"m{n}@example.com" for n in range(2500))
    assert len({r.record_id for r in read}) == 2500
    assert all(a.version_at <= b.version_at for a, b in pairwise(read))


def test_since_reads_the_changes_from_then_on(audience):
    audience.set_status("aud", "m10@example.com", "unsubscribed", at=T0 + timedelta(hours=5))
    read = members(source(audience), since=T0 + timedelta(hours=1))
    assert [(r.payload["email_address"], r.payload["status"]) for r in read] == [("m10@example.com", "unsubscribed")]


def test_a_member_changing_while_the_audience_is_read_shifts_nobody_out_of_a_page(audience):
    """With plain offset paging a member moving to the end lets the next page skip one member."""
    made = source(audience, page_size=200)
    pages = made.extract("members", None)
    first = next(pages)
    audience.now = lambda: T0 + timedelta(days=1)
    for record in first[:5]:  # five already read change and move to the end
        audience.set_status("aud", record.payload["email_address"], "unsubscribed")
    rest = [r for page in pages for r in page]
    read = {r.payload["email_address"] for r in first + rest}
    assert read == {f"m{n}@example.com" for n in range(2500)}
    changed = [r for r in rest if r.payload["status"] == "unsubscribed"]
    assert {r.payload["email_address"] for r in changed} == {r.payload["email_address"] for r in first[:5]}


def test_abuse_reports_are_read_whole_for_one_dated_before_the_cursor_may_come_late(audience):
    """Found by a trial: a report dated before the newest one read was never loaded."""
    audience.report_abuse("aud", "m1@example.com", at=T0 + timedelta(days=2))
    audience.report_abuse("aud", "m2@example.com", at=T0 + timedelta(days=4))
    made = source(audience)
    reports = [r for page in made.extract("abuse_reports", T0 + timedelta(days=3)) for r in page]
    assert [r.payload["email_address"] for r in reports] == ["m1@example.com", "m2@example.com"]


def test_a_429_storm_and_a_5xx_are_retried(audience):
    audience.inject(Fault(status=429, times=3, path="/3.0/lists/aud/members"))
    audience.inject(Fault(status=503, times=1, path="/3.0/lists/aud/members", after=1))
    assert len(members(source(audience))) == 2500


def test_a_wrong_key_names_the_connection_not_the_key(audience):
    with pytest.raises(AuthError) as raised:
        members(source(audience, key="wrong-key-us21"))
    assert "mailchimp_default" in str(raised.value) and "wrong-key" not in str(raised.value)


def test_an_error_echoing_the_key_never_shows_it(audience):
    made = source(audience, key="mcSECRET0123456789-us21")
    audience.api_key = "mcSECRET0123456789-us21"
    audience.inject(Fault(status=400, path="/3.0/lists/aud/members", body='{"title": "Invalid Resource",'
                          ' "detail": "mcSECRET0123456789-us21 is not allowed here", "status": 400}'))
    with pytest.raises(SourceError) as raised:
        members(made)
    assert "Invalid Resource" in str(raised.value) and "mcSECRET" not in str(raised.value)


def test_the_data_center_comes_from_the_key():
    made = client(ConnectionInfo("mailchimp_default", "", password="abc123-us19"))
    assert made.base_url == "https://us19.api.mailchimp.com/3.0"
    with pytest.raises(AuthError):
        client(ConnectionInfo("mailchimp_default", "", password="abc123"))
