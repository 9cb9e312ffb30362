"""Marketing exports through file drops: email events, subscriptions, campaigns and their members,
activities and deal stages reach core, and everyone who unsubscribed, bounced hard, complained or
opted out in an export stays off every list, a row quarantined for a bad date included.

Eight customers, C1..C8, each won a deal D1..D8 on 10 June 2026 (recent_customers as of 30 June):
- C1 unsubscribed (event "Abgemeldet"), C2 bounced hard, C3 complained (event "Spam"),
- C4 was sent, opened and clicked the June newsletter, answered the June webinar and got a call
  on D4, whose stages were Qualification (1 June) and Closed Won (10 June): stays on the list;
- C5 opted out in the subscription export, C6 unsubscribed from the newsletter there;
- C7 unsubscribed on "31.06.2026", no date: the event is quarantined, the unsubscribe still counts;
- C8 (written P8@Kunde.example) only bounced softly: stays on the list.
"""

import shutil
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from smarketing.config import PATHS

AS_OF = date(2026, 6, 30)
FILES = {
    "contacts": "id,email,first,last,created\n" + "".join(
        f"C{n},{'P8@Kunde.example' if n == 8 else f'p{n}@kunde.example'},Vorname{n},Kunde,2026-05-0{n}\n"
        for n in range(1, 9)),
    "deals": "id,contact,won,amount\n" + "".join(f"D{n},C{n},2026-06-10,1000\n" for n in range(1, 9)),
    "events": ("Event-ID;Empfänger;Art;Zeit;Kampagne\n"
               "E1;p1@kunde.example;Abgemeldet;12.06.2026 10:00;K1\n"
               "E2;p2@kunde.example;Hard Bounce;12.06.2026 10:00;K1\n"
               "E3;p3@kunde.example;Spam;12.06.2026 10:00;K1\n"
               "E4;p4@kunde.example;Versendet;11.06.2026 09:00;K1\n"
               "E5;p4@kunde.example;Geöffnet;11.06.2026 09:30;K1\n"
               "E6;p4@kunde.example;Geklickt;11.06.2026 09:31;K1\n"
               "E7;p7@kunde.example;Abgemeldet;31.06.2026 10:00;K1\n"
               "E8;p8@kunde.example;Soft Bounce;12.06.2026 10:00;K1\n"),
    "subscriptions": ("id,email,subscription,status,basis,changed\n"
                      "S1,p5@kunde.example,all,opted_out,,2026-06-05T10:00:00Z\n"
                      "S2,p6@kunde.example,newsletter,unsubscribed,,2026-06-05T10:00:00Z\n"
                      "S3,p4@kunde.example,newsletter,subscribed,consent,2026-06-01T10:00:00Z\n"),
    "campaigns": "id,name,type,start\nK1,Juni-Newsletter,Email,2026-06-01\nK2,Webinar Juni,Webinar,2026-06-02\n",
    "members": "id,campaign,contact,responded,responded_at\nM1,K2,C4,ja,2026-06-02T16:00:00Z\n",
    "activities": "id,type,when,contact,deal,owner,owner_name\nA1,call,2026-06-03T09:00:00Z,C4,D4,U-1,Lena Vogel\n",
    "stages": "id,deal,stage,at\nH1,D4,Qualification,2026-06-01T09:00:00Z\nH2,D4,Closed Won,2026-06-10T12:00:00Z\n",
}
DROPS = """drops:
  contacts: {{entity: contacts, location: {f}/contacts, columns: {{email: email, first: first_name, last: last_name,
             created: first_contact_date}}}}
  deals: {{entity: deals, location: {f}/deals, columns: {{contact: contact_id, won: won_date, amount: amount}},
          constants: {{currency: EUR}}}}
  events:
    entity: email_events
    location: {f}/events
    delimiter: ";"
    id_column: Event-ID
    columns: {{Empfänger: email, Art: type, Zeit: occurred_at, Kampagne: campaign_id}}
    values:
      type: {{Abgemeldet: unsubscribe, Hard Bounce: hard_bounce, Spam: complaint, Versendet: send,
             Geöffnet: open, Geklickt: click, Soft Bounce: soft_bounce}}
    date_format: "%d.%m.%Y %H:%M"
    timezone: Europe/Berlin
  subscriptions: {{entity: subscriptions, location: {f}/subscriptions, columns: {{email: email,
                  subscription: subscription, status: status, basis: legal_basis, changed: changed_at}}}}
  campaigns: {{entity: campaigns, location: {f}/campaigns, columns: {{name: name, type: type, start: start_date}}}}
  members: {{entity: campaign_members, location: {f}/members, columns: {{campaign: campaign_id, contact: contact_id,
            responded: responded, responded_at: responded_at}}}}
  activities: {{entity: activities, location: {f}/activities, columns: {{type: type, when: occurred_at,
               contact: contact_id, deal: deal_id, owner: owner_id, owner_name: owner_name}}}}
  stages: {{entity: deal_stages, location: {f}/stages, columns: {{deal: deal_id, stage: stage, at: changed_at}}}}
"""


@pytest.fixture(scope="module")
def marketing(engine, tmp_path_factory):
    from smarketing import tasks
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    folder = tmp_path_factory.mktemp("marketing")
    for name, body in FILES.items():
        (folder / name).mkdir()
        (folder / name / f"{name}.csv").write_text(body, encoding="utf-8")
    (folder / "file_drops.yaml").write_text(DROPS.format(f=folder), encoding="utf-8")
    (folder / "sources.yaml").write_text("systems: {}\n")
    shutil.copy(PATHS.root / "examples" / "file_drops" / "nurture.yaml", folder / "nurture.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        stats = tasks.run_pipeline("marketing", AS_OF)
    return engine, stats


def rows(eng, query):
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query)).all()]


def test_only_customers_who_may_be_mailed_are_on_the_list(marketing):
    eng, _ = marketing
    assert rows(eng, "select email from nurture.list_members where program = 'recent_customers' order by 1") == [
        ("p4@kunde.example",), ("p8@kunde.example",)]
    reasons = rows(eng, "select p.email, string_agg(s.reason, ',' order by s.reason) from nurture.suppressed as s"
                        " join core.person as p using (person_id) group by p.email order by 1")
    assert reasons == [("p1@kunde.example", "unsubscribed"), ("p2@kunde.example", "hard_bounce"),
                       ("p3@kunde.example", "spam_complaint"), ("p5@kunde.example", "email_opt_out"),
                       ("p6@kunde.example", "unsubscribed"), ("p7@kunde.example", "unsubscribed")]


def test_the_quarantined_unsubscribe_is_quarantined_with_its_reason(marketing):
    eng, stats = marketing
    assert stats["file_drops"]["events"]["rows_quarantined"] == 1
    assert rows(eng, "select record_id, reason from quarantine.records") == [
        ("events.csv:8", "events.csv line 8: field 'occurred_at' matches no date format of the drop"
                         " (%d.%m.%Y %H:%M)")]


def test_email_events_campaigns_and_touchpoints(marketing):
    eng, _ = marketing
    assert rows(eng, "select e.event_type, e.bounce_category, e.subscription_status, c.name, e.occurred_at"
                     " from core.email_event as e left join core.campaign as c using (campaign_id)"
                     " where e.email = 'p4@kunde.example' or e.source_record_id in ('E1', 'E2', 'E8')"
                     " order by e.source_record_id") == [
        ("STATUSCHANGE", None, "UNSUBSCRIBED", "Juni-Newsletter", datetime(2026, 6, 12, 8, 0, tzinfo=UTC)),
        ("BOUNCE", "HARD_BOUNCE", None, "Juni-Newsletter", datetime(2026, 6, 12, 8, 0, tzinfo=UTC)),
        ("SENT", None, None, "Juni-Newsletter", datetime(2026, 6, 11, 7, 0, tzinfo=UTC)),
        ("OPEN", None, None, "Juni-Newsletter", datetime(2026, 6, 11, 7, 30, tzinfo=UTC)),
        ("CLICK", None, None, "Juni-Newsletter", datetime(2026, 6, 11, 7, 31, tzinfo=UTC)),
        ("BOUNCE", "SOFT_BOUNCE", None, "Juni-Newsletter", datetime(2026, 6, 12, 8, 0, tzinfo=UTC)),
    ]
    assert rows(eng, "select t.touch_type, t.channel from core.touchpoint as t join core.person as p using (person_id)"
                     " where p.email = 'p4@kunde.example' order by t.occurred_at") == [
        ("campaign_response", "webinar"), ("open", "email"), ("click", "email")]


def test_activities_owners_and_stage_history(marketing):
    eng, _ = marketing
    assert rows(eng, "select a.activity_type, p.email, o.source_record_id, a.owner_id, w.name from core.activity as a"
                     " join core.person as p using (person_id) join core.opportunity as o using (opportunity_id)"
                     " join core.owner as w on w.source = a.source and w.owner_id = a.owner_id") == [
        ("call", "p4@kunde.example", "D4", "U-1", "Lena Vogel")]
    assert rows(eng, "select h.stage_name, h.entered_at, h.is_current from core.opportunity_stage_history as h"
                     " join core.opportunity as o using (opportunity_id) where o.source_record_id = 'D4'"
                     " order by h.entered_at") == [
        ("Qualification", datetime(2026, 6, 1, 9, 0, tzinfo=UTC), False),
        ("Closed Won", datetime(2026, 6, 10, 12, 0, tzinfo=UTC), True)]
