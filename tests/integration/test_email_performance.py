"""Email performance from an export unlike the demo's (comma-separated, ISO times, a Cyrillic
campaign name, no CRM at all), worked out by hand as of 2026-11-28.

Anna writes her address three ways (anna@x.example, ANNA@X.example, anna+news@x.example): one
mailbox, one recipient. She unsubscribes in November's mailing and again in December's preview;
Ben unsubscribes twice in the preview. An unsubscribe counts once per mailbox, at its first: the
campaign that lost the reader."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.fixtures.drops import files_only

AS_OF = date(2026, 11, 28)
EVENTS = """id,email,type,at,campaign
E1,anna@x.example,send,2026-11-02T08:00:00Z,K1
E2,ANNA@X.example,click,2026-11-02T09:00:00Z,K1
E3,anna+news@x.example,unsubscribe,2026-11-03T10:00:00Z,K1
E4,ben@y.example,send,2026-11-02T08:00:00Z,K1
E5,ben@y.example,open,2026-11-02T12:00:00Z,K1
E6,anna@x.example,send,2026-11-20T08:00:00Z,K2
E7,anna@x.example,unsubscribe,2026-11-20T09:00:00Z,K2
E8,ben@y.example,unsubscribe,2026-11-21T09:00:00Z,K2
E9,Ben@Y.example,unsubscribe,2026-11-22T09:00:00Z,K2
"""
CAMPAIGNS = "id,name,type\nK1,Ноябрьская рассылка,Email\nK2,December preview,Email\n"
DROPS = """drops:
  events:
    entity: email_events
    location: {f}/events
    columns: {email: email, type: type, at: occurred_at, campaign: campaign_id}
  campaigns: {entity: campaigns, location: {f}/campaigns, columns: {name: name, type: type}}
"""


@pytest.fixture(scope="module")
def performance(engine, tmp_path_factory):
    from smarketing import tasks
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    folder = files_only(tmp_path_factory.mktemp("email"), {"events": EVENTS, "campaigns": CAMPAIGNS}, DROPS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        tasks.run_pipeline("email", AS_OF)
    with engine.connect() as conn:
        return {r.campaign_name: tuple(r)[1:] for r in conn.execute(text(
            "select campaign_name, sent, delivered, unique_opens, unique_clicks, bounces, unsubscribes,"
            " delivery_rate, unique_open_rate, click_to_open_rate, bounce_rate, unsubscribe_rate"
            " from marts.email_performance"))}


def rates(*values):
    return tuple(None if v is None else Decimal(v) for v in values)


def test_a_click_is_an_open_and_an_address_spelt_three_ways_one_recipient(performance):
    # sent and delivered: Anna (send, click, unsubscribe) and Ben (send, open); opened: both, Anna by
    # her click; clicked: Anna; unsubscribed: Anna, her first
    assert performance["Ноябрьская рассылка"] == (2, 2, 2, 1, 0, 1, *rates("1", "1", "0.5", "0", "0.5"))


def test_an_unsubscribe_counts_once_per_mailbox_at_its_first(performance):
    # sent and delivered: Anna and Ben (an unsubscribe implies both); no opens, so no click-to-open;
    # Anna had already left in November: only Ben's first unsubscribe counts
    assert performance["December preview"] == (2, 2, 0, 0, 0, 1, *rates("1", "0", None, "0", "0.5"))
