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

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing.config import PATHS
from smarketing.report import summary

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
    configure(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMARKETING_CONFIG_DIR", str(folder))
        stats = tasks.run_pipeline("marketing", AS_OF)
    return engine, stats


def configure(folder) -> None:
    """No API, and the files-only programs."""
    (folder / "sources.yaml").write_text("systems: {}\n")
    shutil.copy(PATHS.root / "examples" / "file_drops" / "nurture.yaml", folder / "nurture.yaml")


def folders(tmp_path, filled: tuple[str, ...], empty: tuple[str, ...] = ()) -> None:
    """A folder in ``tmp_path`` for each drop named, those of ``filled`` holding their file of FILES."""
    for name in (*filled, *empty):
        (tmp_path / name).mkdir()
    for name in filled:
        (tmp_path / name / f"{name}.csv").write_text(FILES[name], encoding="utf-8")


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


def test_email_performance_from_an_export_without_every_event(marketing):
    """The June newsletter's export: an unsubscribe (C1), a hard bounce (C2), a complaint (C3), a send,
    open and click (C4), a soft bounce (C8); C7's event is quarantined. Each event implies the ones
    before it: sent C1, C2, C3, C4, C8 = 5; delivered C1, C3, C4 = 3 (a bounce is no delivery);
    opened and clicked C4; bounced C2, C8; unsubscribed C1."""
    eng, _ = marketing
    assert rows(eng, "select campaign_name, sent, delivered, unique_opens, unique_clicks, bounces, unsubscribes,"
                     " delivery_rate, unique_open_rate, click_to_open_rate, bounce_rate, unsubscribe_rate"
                     " from marts.email_performance") == [
        ("Juni-Newsletter", 5, 3, 1, 1, 2, 1, *map(Decimal, ("0.6", "0.3333", "1", "0.4", "0.3333")))]


def test_an_unsubscribe_in_a_rejected_file_still_suppresses(empty_warehouse, tmp_path, monkeypatch):
    """Found by a trial: an export in the wrong encoding was rejected whole, and the unsubscribe in it
    never reached suppression. The file stays rejected; what its rows say of their mailboxes counts."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals", "events", "subscriptions"))
    (tmp_path / "events" / "events_late.csv").write_bytes(
        "Event-ID;Empfänger;Art;Zeit;Kampagne\nE9;p4@kunde.example;Abgemeldet;20.06.2026 10:00;Kampagne für Kunden\n"
        "E10;p8@kunde.example;Geöffnet;20.06.2026 10:00;K1\n".encode("cp1252"))
    (tmp_path / "subscriptions" / "late.csv").write_bytes(
        "id,email,subscription,status,basis,changed\nS9,P8@kunde.example,all,Widerspruch,,2026-06-20T10:00:00Z\n"
        f"S10,p7@kunde.example,all,subscribed,consent,2026-06-20T10:00:00Z,{'x' * 200_000}\n".encode("cp1252")
        + "S11,p1@kunde.example,all,subscribed,,2026-06-20T10:00:00Z,Müller\n".encode("cp1252"))
    drops = DROPS.format(f=tmp_path)
    drops = drops[:drops.index("  campaigns:")].replace(
        "  subscriptions: {entity: subscriptions,", "  subscriptions: {entity: subscriptions, values: {status:"
        " {Widerspruch: opted_out}},")
    (tmp_path / "file_drops.yaml").write_text(drops, encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    stats = tasks.run_pipeline("rejected", AS_OF)
    assert set(stats["file_drops"]["events"]["files_rejected"]) == {"events_late.csv"}
    assert set(stats["file_drops"]["subscriptions"]["files_rejected"]) == {"late.csv"}
    assert rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'") == []
    suppressed = rows(empty_warehouse, "select p.email, s.reason from nurture.suppressed as s"
                                       " join core.person as p using (person_id)")
    assert ("p4@kunde.example", "unsubscribed") in suppressed and ("p8@kunde.example", "email_opt_out") in suppressed


def test_everyone_in_a_file_rejected_before_its_opt_outs_could_be_read_is_held_until_it_loads(empty_warehouse,
                                                                                              tmp_path, monkeypatch):
    """Found by a README-only trial: a contacts export written with semicolons under a drop reading
    commas was rejected, and C4's opt-out in it never reached suppression. Every address in such a
    file is held off the lists (reason rejected_file) until the file loads; then its rows decide."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals", "events", "subscriptions"), empty=("optouts",))
    (tmp_path / "optouts" / "crm.csv").write_text("ref;mail;dne\nX4;P4@kunde.example;ja\nX8;p8@kunde.example;\n")
    drops = DROPS.format(f=tmp_path)
    drops = drops[:drops.index("  campaigns:")] + (
        f"  optouts: {{entity: contacts, location: {tmp_path}/optouts, id_column: ref,"
        " columns: {mail: email, dne: email_opt_out}}\n")
    (tmp_path / "file_drops.yaml").write_text(drops, encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    stats = tasks.run_pipeline("held-file-1", AS_OF)
    assert set(stats["file_drops"]["optouts"]["files_rejected"]) == {"crm.csv"}
    assert rows(empty_warehouse, members) == []
    assert rows(empty_warehouse, "select p.email from nurture.suppressed as s join core.person as p using (person_id)"
                                 " where s.reason = 'rejected_file' order by 1") == [
        ("p4@kunde.example",), ("p8@kunde.example",)]

    (tmp_path / "file_drops.yaml").write_text(drops.replace("id_column: ref,", "id_column: ref, delimiter: ';',"),
                                              encoding="utf-8")
    tasks.run_pipeline("held-file-2", AS_OF)
    assert rows(empty_warehouse, members) == [("p8@kunde.example",)]
    suppressed = "select p.email, s.reason from nurture.suppressed as s join core.person as p using (person_id)"
    assert ("p4@kunde.example", "email_opt_out") in rows(empty_warehouse, suppressed)


def test_a_held_export_delays_only_its_own_rows_and_a_fixed_file_releases_it(empty_warehouse, tmp_path, monkeypatch):
    """Found by a trial: one bad deal held its suite back, the validate task failed, and merge, KPIs
    and nurture never ran: an unsubscribe in another export of the same run never reached the
    lists, and fixing the file did not release the held batch."""
    from smarketing import tasks
    from smarketing.quality import DataQualityError

    folders(tmp_path, ("contacts", "deals", "events"))
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  subscriptions:")], encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    tasks.run_pipeline("held-1", AS_OF)
    assert rows(empty_warehouse, members) == [(f"p{n}@kunde.example",) for n in (4, 5, 6, 8)]  # no subscriptions

    (tmp_path / "deals" / "more.csv").write_text("id,contact,won,amount\nD9,C8,2026-06-11,5000\n")
    (tmp_path / "deals" / "more_bad.csv").write_text("id,contact,won,amount\nD10,C4,2026-06-11,-5000\n")
    (tmp_path / "events" / "late.csv").write_text("Event-ID;Empfänger;Art;Zeit;Kampagne\n"
                                                  "E20;p4@kunde.example;Abgemeldet;20.06.2026 10:00;K1\n",
                                                  encoding="utf-8")
    with pytest.raises(DataQualityError, match="suite file__deals: 1 of 2 rows"):
        tasks.run_pipeline("held-2", AS_OF)
    assert rows(empty_warehouse, members) == [(f"p{n}@kunde.example",) for n in (5, 6, 8)]  # p4 unsubscribed

    (tmp_path / "deals" / "more_bad.csv").write_text("id,contact,won,amount\nD10,C4,2026-06-11,5000\n")
    tasks.run_pipeline("held-3", AS_OF)  # the fixed file supersedes its held version: nothing is held
    assert rows(empty_warehouse, "select source_record_id, amount from core.opportunity"
                                 " where source_record_id in ('D9', 'D10') order by 1") == [("D10", 5000), ("D9", 5000)]
    # a trial's: the summary went on naming the superseded batches as held back
    assert "batches not merged" not in summary(empty_warehouse, "postgresql://x@y/z", AS_OF)


def test_an_opt_out_in_a_held_export_suppresses_at_once(empty_warehouse, tmp_path, monkeypatch):
    """A contacts export whose addresses are mostly broken is held back by its suite; the one valid
    row opting an address out counts anyway, in the same run."""
    from smarketing import tasks
    from smarketing.quality import DataQualityError

    folders(tmp_path, ("contacts", "deals", "events"))
    drops = DROPS.format(f=tmp_path)
    drops = drops[:drops.index("  subscriptions:")].replace(
        "created: first_contact_date}}", "created: first_contact_date, optout: email_opt_out}}")
    (tmp_path / "file_drops.yaml").write_text(drops, encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    (tmp_path / "contacts" / "contacts.csv").write_text(
        FILES["contacts"].replace("created\n", "created,optout\n").replace("\n", ",\n")
        .replace("optout,\n", "optout\n"))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    tasks.run_pipeline("optout-1", AS_OF)
    assert ("p4@kunde.example",) in rows(empty_warehouse, members)

    (tmp_path / "contacts" / "late.csv").write_text(
        "id,email,first,last,created,optout\nC4,p4@kunde.example,Vorname4,Kunde,2026-05-04,ja\n"
        "C20,not-an-address,A,B,2026-05-04,\nC21,also@@broken,A,B,2026-05-04,\n")
    with pytest.raises(DataQualityError, match="suite file__contacts: 2 of 3 rows"):
        tasks.run_pipeline("optout-2", AS_OF)
    assert ("p4@kunde.example",) not in rows(empty_warehouse, members)
    assert ("p4@kunde.example", "email_opt_out") in rows(
        empty_warehouse, "select p.email, s.reason from nurture.suppressed as s join core.person as p"
                         " using (person_id)")


def test_an_address_a_spreadsheet_would_run_never_reaches_a_list(empty_warehouse, tmp_path, monkeypatch):
    """Found by a trial: '-minus@…' was exported as "'-minus@…" (the formula guard), another valid
    address: a mail job would write to a different mailbox. Such addresses stay off the lists."""
    from smarketing import tasks

    for name in ("contacts", "deals"):
        (tmp_path / name).mkdir()
    (tmp_path / "contacts" / "contacts.csv").write_text(
        "id,email,first,last,created\nC1,-minus@kunde.example,A,B,2026-05-01\nC2,=1+2@kunde.example,A,B,2026-05-01\n"
        "C3,+plus@kunde.example,A,B,2026-05-01\nC4,plain@kunde.example,A,B,2026-05-01\n")
    (tmp_path / "deals" / "deals.csv").write_text(
        "id,contact,won,amount\n" + "".join(f"D{n},C{n},2026-06-10,1000\n" for n in range(1, 5)))
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  events:")], encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    tasks.run_pipeline("formula", AS_OF)
    assert rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'") == [
        ("plain@kunde.example",)]
    assert rows(empty_warehouse, "select count(*) from nurture.suppressed where reason = 'formula_like_address'") == [
        (3,)]



def test_a_subscription_export_that_re_sends_an_older_row_lifts_nothing(empty_warehouse, tmp_path, monkeypatch):
    """Found by a README-only trial: a later export re-sending a subscription record's older row
    (subscribed before the opt-out, or subscribed with no date) lifted the opt-out: the last row
    landed was the record's status. A subscription's status is its latest change by date, and an
    undated subscribe lifts nothing; a later dated resubscribe still does."""
    from smarketing import tasks

    for name in ("contacts", "deals"):
        (tmp_path / name).mkdir()
    (tmp_path / "contacts" / "contacts.csv").write_text("id,email,first,last,created\n" + "".join(
        f"C{n},q{n}@kunde.example,Vorname{n},Kunde,2026-05-0{n}\n" for n in (1, 2, 3)))
    (tmp_path / "deals" / "deals.csv").write_text(
        "id,contact,won,amount\n" + "".join(f"D{n},C{n},2026-06-10,1000\n" for n in (1, 2, 3)))
    (tmp_path / "subscriptions").mkdir()
    (tmp_path / "subscriptions" / "a.csv").write_text(
        "id,email,subscription,status,basis,changed\nS1,q1@kunde.example,all,opted_out,,2026-06-05T10:00:00Z\n"
        "S2,q2@kunde.example,all,unsubscribed,,2026-06-05T10:00:00Z\n"
        "S3,q3@kunde.example,all,unsubscribed,,2026-06-05T10:00:00Z\n")
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  campaigns:")].replace(
        drops[drops.index("  events:"):drops.index("  subscriptions:")], ""))
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    tasks.run_pipeline("subs-1", AS_OF)
    assert rows(empty_warehouse, members) == []
    (tmp_path / "subscriptions" / "b.csv").write_text(
        "id,email,subscription,status,basis,changed\nS1,q1@kunde.example,all,subscribed,consent,2026-06-01T10:00:00Z\n"
        "S2,q2@kunde.example,all,subscribed,consent,\n"
        "S3,q3@kunde.example,all,subscribed,consent,2026-06-20T10:00:00Z\n")
    tasks.run_pipeline("subs-2", AS_OF)
    assert rows(empty_warehouse, members) == [("q3@kunde.example",)]


def test_an_event_or_status_no_word_of_the_vocabulary_holds_its_addresses(empty_warehouse, tmp_path, monkeypatch,
                                                                           capsys):
    """Found in the nineteenth session's notes: an export writing "unsub", "Dropped" (SendGrid: not
    sent, often as the address had bounced or unsubscribed) or Mailchimp's "cleaned" had the row
    quarantined as outside the vocabulary, and the address stayed on every list. "unsub" is an
    unsubscribe; a value no word names holds the row's addresses off the lists (reason
    unknown_value) until the drop's values map it, whatever the next export holds; a delivery
    deferred says nothing of the mailbox and holds no one."""
    from smarketing import cli, tasks

    folders(tmp_path, ("contacts", "deals", "events"), empty=("subscriptions",))
    (tmp_path / "events" / "esp.csv").write_text(
        "Event-ID;Empfänger;Art;Zeit;Kampagne\nE30;p4@kunde.example;unsub;20.06.2026 10:00;K1\n"
        "E31;p5@kunde.example;Dropped;20.06.2026 10:00;K1\nE32;p8@kunde.example;deferred;20.06.2026 10:00;K1\n"
        "E33;p8@kunde.example;permanent_fail;21.06.2026 10:00;K1\n", encoding="utf-8")
    (tmp_path / "subscriptions" / "mailchimp.csv").write_text(
        "id,email,subscription,status,basis,changed\nS9,p6@kunde.example,newsletter,cleaned,,2026-06-05T10:00:00Z\n")
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  campaigns:")], encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    suppressed = ("select p.email, s.reason from nurture.suppressed as s join core.person as p using (person_id)"
                  " where p.email in ('p4@kunde.example', 'p5@kunde.example', 'p6@kunde.example',"
                  " 'p8@kunde.example') order by 1, 2")
    tasks.run_pipeline("unknown-1", AS_OF)
    assert rows(empty_warehouse, members) == []
    assert ("    esp.csv: 2 row(s) held off every list for a type or status no word names ('Dropped' 1,"
            " 'permanent_fail' 1): map it with the drop's `values`") in summary(
        empty_warehouse, "postgresql://x@y/z", AS_OF).splitlines()
    assert cli.main(["files", "status", "events"]) == 0
    assert any(line.startswith("  esp.csv: 2 address(es) in it held off every list since ") and line.endswith(
        " UTC those of rows with a type or status no word names ('Dropped', 'permanent_fail') until the drop's"
        " `values` maps it, whatever version of the file is there, any other until a new version of it loads"
        " (`smarketing files release events esp.csv` gives it up once it is removed)")
        for line in capsys.readouterr().out.splitlines())
    assert rows(empty_warehouse, suppressed) == [
        ("p4@kunde.example", "unsubscribed"), ("p5@kunde.example", "unknown_value"),
        ("p6@kunde.example", "unknown_value"), ("p8@kunde.example", "unknown_value")]

    # a trial's: the ESP's next export, without the rows, lifted their holds
    (tmp_path / "events" / "esp.csv").write_text(
        "Event-ID;Empfänger;Art;Zeit;Kampagne\nE34;p8@kunde.example;open;22.06.2026 10:00;K1\n", encoding="utf-8")
    tasks.run_pipeline("unknown-2", AS_OF)
    assert rows(empty_warehouse, members) == []
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  campaigns:")].replace(
        "Soft Bounce: soft_bounce}", "Soft Bounce: soft_bounce, Dropped: send, permanent_fail: hard_bounce}"),
        encoding="utf-8")
    tasks.run_pipeline("unknown-3", AS_OF)  # the values mapped: each held row counts for what it now says
    assert rows(empty_warehouse, members) == [("p5@kunde.example",)]
    assert ("p8@kunde.example", "hard_bounce") in rows(empty_warehouse, suppressed)


def test_an_id_a_later_file_or_drop_gives_another_row_keeps_what_its_earlier_row_said(empty_warehouse, tmp_path,
                                                                                      monkeypatch, caplog):
    """Found by a README-only trial: a record id repeated by a later file of the drop, or by another
    drop of the entity, replaced the earlier row, and an unsubscribe, complaint or bounce in it
    counted no longer (event E1 first p1's unsubscribe, then p4's open; subscription S1 first p5's
    unsubscribe, then p6's subscribe in another drop). What an earlier event said of its mailbox is
    kept (quarantined, expectation superseded_opt_out) unless the new row says the same of the same
    mailbox; a subscription keeps the status of each mailbox its rows name, and a later status for
    the same mailbox still lifts it."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals"), empty=("events", "subscriptions", "subscriptions_b"))
    head = "Event-ID;Empfänger;Art;Zeit;Kampagne\n"
    (tmp_path / "events" / "a.csv").write_text(
        f"{head}E1;p1@kunde.example;Abgemeldet;12.06.2026 10:00;K1\nE2;p2@kunde.example;Spam;12.06.2026 10:00;K1\n"
        "E3;p3@kunde.example;Hard Bounce;12.06.2026 10:00;K1\n", encoding="utf-8")
    subs = "id,email,subscription,status,basis,changed\n"
    (tmp_path / "subscriptions" / "a.csv").write_text(
        f"{subs}S1,p5@kunde.example,all,unsubscribed,,2026-06-12T10:00:00Z\n"
        "S2,p7@kunde.example,all,unsubscribed,,2026-06-12T10:00:00Z\n")
    drops = DROPS.format(f=tmp_path)
    second = drops[drops.index("  subscriptions:"):drops.index("  campaigns:")]
    drops = drops[:drops.index("  campaigns:")] + second.replace("subscriptions:", "subscriptions_b:", 1).replace(
        "/subscriptions,", "/subscriptions_b,")
    (tmp_path / "file_drops.yaml").write_text(drops, encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    tasks.run_pipeline("ids-1", AS_OF)
    assert rows(empty_warehouse, members) == [("p4@kunde.example",), ("p6@kunde.example",), ("p8@kunde.example",)]
    (tmp_path / "events" / "b.csv").write_text(
        f"{head}E1;p4@kunde.example;Geöffnet;13.06.2026 10:00;K1\nE2;p2@kunde.example;Geöffnet;13.06.2026 10:00;K1\n"
        "E3;p3@kunde.example;Hard Bounce;12.06.2026 10:00;K1\n", encoding="utf-8")
    (tmp_path / "subscriptions_b" / "b.csv").write_text(
        f"{subs}S1,p6@kunde.example,all,subscribed,consent,2026-06-13T10:00:00Z\n")
    (tmp_path / "subscriptions" / "c.csv").write_text(  # the same mailbox resubscribed: that lifts it
        f"{subs}S2,p7@kunde.example,all,subscribed,consent,2026-06-14T10:00:00Z\n")
    tasks.run_pipeline("ids-2", AS_OF)
    assert rows(empty_warehouse, members) == [("p4@kunde.example",), ("p6@kunde.example",), ("p7@kunde.example",),
                                              ("p8@kunde.example",)]
    assert rows(empty_warehouse, "select payload ->> 'record_id', payload -> 'mapped' ->> 'email' from"
                                 " quarantine.records where expectation = 'superseded_opt_out' order by 1") == [
        ("E1", "p1@kunde.example"), ("E2", "p2@kunde.example")]  # S1: a status per mailbox (mailbox_consent)
    assert any("2 id(s) that an earlier row of the drop's own files or another drop's said must get no mail"
               " (E1, E2)" in r.getMessage() for r in caplog.records)


def test_an_unsubscribe_to_an_address_written_encoded_quoted_or_trailed_suppresses_the_mailbox(
        empty_warehouse, tmp_path, monkeypatch):
    """Found by a README-only trial: an unsubscribe or complaint whose address was URL- or
    HTML-encoded, written with a full-width at sign, in quotes, or trailed by a bracket or comma
    suppressed the literal text, which is nobody's mailbox, and the customer stayed on the list. A
    cell writing one address, however decorated, is read as that address; a formula-like one stays
    as written (it is suppressed as such), a cell of two addresses keeps both."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals"), empty=("esp",))
    written = ["p1%40kunde.example", "'p2@kunde.example'", "p3@kunde.example>", "p4&#64;kunde.example",
               "p5\uff20kunde.example", '"p6@kunde.example"', "p7@\uff4bunde.example,"]  # a full-width k
    (tmp_path / "esp" / "events.jsonl").write_text("".join(
        json.dumps({"id": f"U{n}", "email": address, "type": "unsubscribe" if n != 3 else "complaint",
                    "occurred_at": "2026-06-20T10:00:00Z"}) + "\n" for n, address in enumerate(written, start=1)))
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(
        drops[:drops.index("  events:")] + f"  esp: {{entity: email_events, location: {tmp_path}/esp,"
        " pattern: '*.jsonl', format: jsonl, constants: {system: esp}}\n", encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    tasks.run_pipeline("decorated", AS_OF)
    assert rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'") == [
        ("p8@kunde.example",)]
    assert rows(empty_warehouse, "select record_id, payload ->> 'email' from raw.file__email_events order by 1") == [
        (f"esp:U{n}", f"p{n}@kunde.example") for n in range(1, 8)]


def test_a_legal_basis_written_as_none_or_a_dash_is_no_legal_basis(empty_warehouse, tmp_path, monkeypatch):
    """Found by a README-only trial and its re-trial: with require_legal_basis, a subscribe whose
    legal basis read "none", "-", "N/A", "no", an em dash, "n.a.", "not given" or "tbd" counted as
    having one, and the customers stayed on the list; an empty one gave no_consent. Such
    placeholders, and a basis of punctuation alone, are no legal basis."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals"), empty=("subscriptions",))
    (tmp_path / "subscriptions" / "s.csv").write_text("id,email,subscription,status,basis,changed\n" + "".join(
        f"S{n},p{n}@kunde.example,all,subscribed,{basis},2026-06-12T10:00:00Z\n" for n, basis in enumerate(
            ("none", "\u2014", "n.a.", "'-'", "not given", "TBD", "consent", "Legitimate interest"), start=1)))
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  campaigns:")].replace(
        drops[drops.index("  events:"):drops.index("  subscriptions:")], ""), encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    tasks.run_pipeline("basis", AS_OF)
    assert rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'"
                                 " order by 1") == [("p7@kunde.example",), ("p8@kunde.example",)]
    assert rows(empty_warehouse, "select count(*) from nurture.suppressed where reason = 'no_consent'") == [(6,)]


def test_a_subscription_id_reused_for_another_mailbox_or_subscription_keeps_each_ones_status(
        empty_warehouse, tmp_path, monkeypatch):
    """Found by a README-only re-trial: a subscription id given, in a later file, an unsubscribe of
    another mailbox dated before the id's earlier subscribe lost to it (the record's status was its
    latest by date), and an unsubscribe from the newsletter lost to a later subscribe to product news
    under the same id: both customers stayed on the list. A subscription's status is the latest by
    date of each mailbox and subscription its rows name; a later subscribe of that mailbox to that
    subscription still lifts its unsubscribe."""
    from smarketing import tasks

    folders(tmp_path, ("contacts", "deals"), empty=("subscriptions",))
    head = "id,email,subscription,status,basis,changed\n"
    (tmp_path / "subscriptions" / "s1.csv").write_text(
        f"{head}S1,p1@kunde.example,newsletter,subscribed,consent,2026-06-10T10:00:00Z\n"
        "S2,p3@kunde.example,newsletter,unsubscribed,consent,2026-06-01T10:00:00Z\n")
    drops = DROPS.format(f=tmp_path)
    (tmp_path / "file_drops.yaml").write_text(drops[:drops.index("  campaigns:")].replace(
        drops[drops.index("  events:"):drops.index("  subscriptions:")], ""), encoding="utf-8")
    configure(tmp_path)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    members = "select email from nurture.list_members where program = 'recent_customers' order by 1"
    tasks.run_pipeline("reused-1", AS_OF)
    (tmp_path / "subscriptions" / "s2.csv").write_text(
        f"{head}S1,p2@kunde.example,newsletter,unsubscribed,consent,2026-06-01T10:00:00Z\n"
        "S2,p3@kunde.example,product news,subscribed,consent,2026-06-10T10:00:00Z\n")
    tasks.run_pipeline("reused-2", AS_OF)
    everyone = [f"p{n}@kunde.example" for n in range(1, 9)]
    assert [email for (email,) in rows(empty_warehouse, members)] == [e for e in everyone if e not in (
        "p2@kunde.example", "p3@kunde.example")]
    (tmp_path / "subscriptions" / "s3.csv").write_text(
        f"{head}S1,p2@kunde.example,newsletter,subscribed,consent,2026-06-20T10:00:00Z\n")
    tasks.run_pipeline("reused-3", AS_OF)  # p2 subscribed again, later: that lifts its unsubscribe
    assert [email for (email,) in rows(empty_warehouse, members)] == [e for e in everyone if e != "p3@kunde.example"]
