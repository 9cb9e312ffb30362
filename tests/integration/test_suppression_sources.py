"""Never email a suppressed mailbox, tried from the outside: source records served over HTTP by the
HubSpot, Salesforce and Mailchimp fakes and a CSV export, through landing, validation, merge,
KPIs and nurture, to every place a list reaches (the warehouse table and view, the CSV file,
`smarketing lists pull`, the files folder, the HubSpot list, the Mailchimp tag, the Salesforce
campaign: tests/fixtures/runs.py).

Which mailboxes must be suppressed is worked out here from the generated records alone, by the
rules as the README states them: a mailbox is one address in any spelling (case, whitespace,
+tags, Gmail dots); any record or event of any system that says it unsubscribed, bounced hard,
complained, opted out or subscribed without a legal basis (or, in Mailchimp, is cleaned or pending)
suppresses it for everyone.
"""

from __future__ import annotations

import csv
import io
import os
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from smarketing import cli
from smarketing.report import summary
from tests.fixtures.runs import assert_never_reached
from tests.fixtures.world import AS_OF, HARD_BOUNCES, NURTURE_YAML, World

# -- hand-built cases: each failed on the code before the mailbox key -------------------------------

def test_a_shared_mailbox_unsubscribed_under_one_person_reaches_nobody(run_world):
    """Ann unsubscribed sales@ in HubSpot; Bob, another person, buys with Sales+Deals@ in Salesforce."""
    world = World()
    world.hubspot_contact(1, "sales@kontor.example", "Ann", "Lee", status="NOT_SUBSCRIBED")
    account = world.salesforce_account(1, "Kontor AG")
    bob = world.salesforce_contact(1, "Sales+Deals@Kontor.example", "Bob", "Ray", account)
    world.salesforce_won_deal(1, bob, account, 900)
    carla = world.salesforce_contact(1, "carla@kontor.example", "Carla", "Diaz", account)
    world.salesforce_won_deal(1, carla, account, 700)
    (reached,) = run_world(world)
    assert_never_reached(reached, {"sales@kontor.example"})
    assert reached.table == reached.view == reached.csv == reached.pull == {"carla@kontor.example"}


def test_a_mailbox_two_buyers_share_is_on_the_list_once_and_the_other_is_counted_as_sharing_it(run_world):
    """Found by a trial: the second holder of a shared mailbox was counted as suppressed with no
    reason given."""
    world = World()
    account = world.salesforce_account(1, "Haus Øre")
    for first, last, spelling in (("Åsa", "Øre", "Kontor@Haus.example"), ("Pål", "Lie", "kontor+crm@haus.example"),
                                  ("Siv", "Ås", "siv@haus.example")):
        world.salesforce_won_deal(1, world.salesforce_contact(1, spelling, first, last, account), account, 500)
    world.hubspot_contact(1, "siv@haus.example", "Siv", "Ås", status="NOT_SUBSCRIBED")
    (reached,) = run_world(world)
    assert len(reached.table) == 1 and reached.table <= {"kontor@haus.example", "kontor+crm@haus.example"}
    with run_world.engine.connect() as conn:
        run = conn.execute(text("select members, eligible, suppressed, suppressed_reasons from nurture.list_runs"
                                " where program = 'customers'")).one()
    assert run == (1, 3, 2, {"shared_mailbox": 1, "unsubscribed": 1})
    shown = summary(run_world.engine, "postgresql://x@y/z", AS_OF)
    assert "customers: 1 members (3 eligible, 2 kept off: shared_mailbox 1, unsubscribed 1)" in shown


def test_an_opt_out_holds_when_a_later_export_re_sends_the_record_without_it(run_world):
    """Found by a README-only trial: a file drop re-sending an older row (its opt-out blank) in a
    later export made it the record's latest version, which lifted the opt-out. A file's version is
    the time it landed, so a change cannot be told from a re-sent row: the opt-out holds."""
    world = World()
    paul = world.file_lead(1, "Paul@Beispiel.example", "Paul", "Ørsted", opted_out="ja")
    world.file_deal(1, paul)
    ida = world.file_lead(1, "ida@beispiel.example", "Ida", "Ørsted")
    world.file_deal(1, ida)
    stale = dict(next(row for _, row in world.file_leads if row["Kontakt-Nr"] == paul), **{"Keine Werbung": ""})
    world.file_leads.append((2, stale))  # the same row, its flag blank, in the next run's export
    first, second = run_world(world, runs=2)
    assert first.csv == {"ida@beispiel.example"}
    assert_never_reached(second, {"paul@beispiel.example"})


def test_an_opt_out_in_an_export_the_drop_cannot_split_keeps_its_mailbox_off_every_list(run_world):
    """Found by a README-only trial: a leads export written with commas under a drop reading
    semicolons was rejected, and the opt-out in it never reached the customer of the same mailbox
    in Salesforce. Who in such a file opted out cannot be told: each address in it is held."""
    world = World()
    account = world.salesforce_account(1, "Kontor AG")
    for address, first in (("ute@kontor.example", "Ute"), ("eva@ost.example", "Eva")):
        world.salesforce_won_deal(1, world.salesforce_contact(1, address, first, "Lang", account), account, 900)
    world.file_lead(1, "Ute@Kontor.example", "Ute", "Lang", "Kontor AG", opted_out="ja")
    world.comma_runs.add(1)
    first, second = run_world(world, runs=2)
    assert first.csv == second.csv == {"eva@ost.example"}  # the file stays rejected: the hold stays


def test_an_opt_out_holds_for_the_address_it_came_with_after_the_record_moves_to_another(run_world):
    """A file-drop lead opts out under the team mailbox, then a later export gives the record a
    personal address (its flag blank); another person buys with the team mailbox. The opt-out holds
    for the mailbox it was given with and, the record's flag holding, for the record's new address."""
    world = World()
    jan = world.file_lead(1, "Vertrieb@Kontor.example", "Jan", "Søndergaard", opted_out="ja")
    world.file_deal(1, jan)
    moved = dict(next(row for _, row in world.file_leads if row["Kontakt-Nr"] == jan),
                 **{"E-Mail": "jan.s@kontor.example", "Keine Werbung": ""})
    world.file_leads.append((2, moved))
    world.file_deal(2, world.file_lead(2, "vertrieb+crm@kontor.example", "Ewa", "Nowak"))
    world.file_deal(2, world.file_lead(2, "ewa@kontor.example", "Ewa", "Kowalska"))
    first, second = run_world(world, runs=2)
    assert_never_reached(first, {"vertrieb@kontor.example"})
    assert_never_reached(second, {"vertrieb@kontor.example", "jan.s@kontor.example"})
    assert second.csv == {"ewa@kontor.example"}


def test_an_opt_out_on_a_row_quarantined_as_read_holds_for_its_record(run_world):
    """Found by a README-only trial: a file row quarantined while read (a bad date; an id a later
    line of the same file repeats) kept its opt-out for its own address only, and the record's
    row under another address reached the lists."""
    world = World()
    zoe = world.file_lead(1, "zoe.alt@alt.example", "Zoe", "Alt", opted_out="ja", first_contact="31.06.2026")
    row = next(r for _, r in world.file_leads if r["Kontakt-Nr"] == zoe)
    world.file_leads.append((2, dict(row, **{"E-Mail": "zoe@alt-neu.example", "Keine Werbung": "",
                                             "Erstkontakt": "10.06.2026"})))
    world.file_deal(2, zoe)
    ben = world.file_lead(1, "ben.cole@cole.example", "Ben", "Cole", opted_out="ja")
    row = next(r for _, r in world.file_leads if r["Kontakt-Nr"] == ben)
    world.file_leads.append((1, dict(row, **{"E-Mail": "ben.cole@cole-neu.example", "Keine Werbung": ""})))
    world.file_deal(1, ben)
    for n in range(60):  # two quarantined rows in 64 stay under the share that would hold the batch
        world.file_lead(1, f"fan{n}@alt.example", "Fan", f"Nr{n}")
    world.file_deal(1, world.file_lead(1, "ida@alt.example", "Ida", "Alt"))
    first, second = run_world(world, runs=2)
    assert_never_reached(first, {"ben.cole@cole-neu.example", "ben.cole@cole.example", "zoe.alt@alt.example"})
    assert_never_reached(second, {"zoe@alt-neu.example", "zoe.alt@alt.example", "ben.cole@cole-neu.example"})
    assert second.csv == {"ida@alt.example"}


def test_an_opt_out_on_a_quarantined_row_after_the_records_last_clean_one_holds_for_the_record(run_world):
    """The record (a customer, under one address) was loaded clean; a later export's row of it,
    quarantined for a bad date, opts out under another address. No clean row of it came again,
    yet the opt-out holds for the record, its first address too."""
    world = World()
    eva = world.file_lead(1, "eva@alt.example", "Eva", "Alt")
    world.file_deal(1, eva)
    row = next(r for _, r in world.file_leads if r["Kontakt-Nr"] == eva)
    world.file_leads.append((2, dict(row, **{"E-Mail": "eva.privat@alt.example", "Keine Werbung": "ja",
                                             "Erstkontakt": "31.06.2026"})))
    for n in range(40):  # the quarantined row stays under the share that would hold the batch back
        world.file_lead(2, f"fan{n}@alt.example", "Fan", f"Nr{n}")
    world.file_deal(1, world.file_lead(1, "ida@alt.example", "Ida", "Alt"))
    first, second = run_world(world, runs=2)
    assert first.csv == {"eva@alt.example", "ida@alt.example"}
    assert_never_reached(second, {"eva@alt.example", "eva.privat@alt.example"})
    assert second.csv == {"ida@alt.example"}


def test_a_hard_bounce_on_an_address_variant_suppresses_every_person_of_the_mailbox(run_world):
    """A team mailbox two people (different names, so two persons) buy with; the bounce comes for a
    third spelling and lands on one of them. Gmail spellings of one mailbox likewise."""
    world = World()
    account = world.salesforce_account(1, "Nord GmbH")
    for first, last, spelling in (("Jörg", "Nußbaum", "Team@Nord.example"), ("Jana", "Berg", "team+sf@nord.example"),
                                  ("Ida", "Kos", "i.d.a.kos@gmail.com"), ("Ole", "Kos", "IdaKos@googlemail.com")):
        contact = world.salesforce_contact(1, spelling, first, last, account)
        world.salesforce_won_deal(1, contact, account, 1000)
    world.hubspot_event(1, "TEAM+news@nord.example", "BOUNCE", day=8, category="UNKNOWN_USER")
    world.hubspot_event(1, "idakos+shop@gmail.com", "SPAMREPORT", day=9)
    (reached,) = run_world(world)
    assert_never_reached(reached, {"team@nord.example", "idakos@gmail.com"})
    assert reached.table == set()


def test_manual_suppression_of_a_variant_holds_for_every_spelling(run_world):
    world = World()
    lead = world.file_lead(1, "some.one@googlemail.com", "Some", "One")
    world.file_deal(1, lead)
    other = world.file_lead(1, "zoë@beispiel.example", "Zoë", "Ðorđević")
    world.file_deal(1, other)
    (reached,) = run_world(world, manual=("someone+news@gmail.com",))
    assert_never_reached(reached, {"someone@gmail.com"})
    assert reached.csv == {"zoë@beispiel.example"}


def test_a_subdomain_of_an_excluded_domain_is_excluded(run_world):
    world = World()
    for address in ("qa@eu.mailinator.com", "dev@TEST.example", "kim@mailinator.company.example"):
        lead = world.file_lead(1, address, "Kim", address.split("@")[0])
        world.file_deal(1, lead)
    (reached,) = run_world(world)
    assert reached.csv == {"kim@mailinator.company.example"}  # a longer domain, not a subdomain


def test_an_opt_out_outlives_the_record_that_carried_it(run_world):
    """A Salesforce lead opted out, then converted: the contact carries no flag; a file says "x"."""
    world = World()
    account = world.salesforce_account(1, "Süd AG")
    contact = world.salesforce_contact(1, "luis@sued.example", "Luis", "Peña", account, day=3)
    world.salesforce_lead(1, "LUIS@sued.example ", "Luis", "Peña", "Süd AG", opted_out=True, converted_contact=contact)
    world.salesforce_won_deal(1, contact, account, 500)
    lead = world.file_lead(1, "mia@sued.example", "Mia", "Wolf", opted_out="x")
    world.file_deal(1, lead)
    other = world.file_lead(1, "noah@sued.example", "Noah", "Wolf", opted_out="nein")
    world.file_deal(1, other)
    (reached,) = run_world(world)
    assert_never_reached(reached, {"luis@sued.example", "mia@sued.example"})
    assert reached.csv == {"noah@sued.example"}


def test_an_opt_out_on_a_quarantined_record_still_counts(run_world):
    """A file row with a date that does not exist and a HubSpot contact without createdate are
    quarantined; what they say about their mailboxes still suppresses the customers holding them."""
    world = World()
    account = world.salesforce_account(1, "Spread AG")
    for first, address in (("Hedy", "hedy@spread.example"), ("Ida", "ida@spread.example"),
                           ("Jon", "jon@spread.example")):
        contact = world.salesforce_contact(1, address, first, "Lamarr", account)
        world.salesforce_won_deal(1, contact, account, 100)
    world.file_lead(1, "Hedy@Spread.example", "Hedy", "Lamarr", opted_out="yes", first_contact="31.06.2026")
    kim = world.salesforce_contact(1, "kim@spread.example", "Kim", "Lamarr", account)
    world.salesforce_won_deal(1, kim, account, 100)
    world.file_lead(1, "Kim Lamarr <Kim@Spread.example>", "Kim", "Lamarr", opted_out="ja")  # quarantined: email_valid
    for n in range(20):  # one bad file lead in 21 stays under the 5 % that would stop the batch
        world.file_lead(1, f"reader{n}@spread.example", "Reader", f"Nr{n}")
    world.hubspot_contact(1, "ida@spread.example", "Ida", "Lamarr", opted_out=True, createdate=False)
    for n in range(20):  # one bad contact in 21 stays under the 5 % that would stop the batch
        world.hubspot_contact(1, f"fan{n}@spread.example", "Fan", f"Nr{n}")
    (reached,) = run_world(world)
    assert_never_reached(reached, {"hedy@spread.example", "ida@spread.example", "kim@spread.example"})
    assert reached.csv == {"jon@spread.example"}


def test_an_opt_out_on_a_quarantined_record_holding_two_addresses_suppresses_both(run_world):
    """Found by a README-only trial: a file row whose email field holds two addresses is quarantined
    (email_valid), and its opt-out was keyed by the whole field, which no mailbox matches."""
    world = World()
    account = world.salesforce_account(1, "Phi GmbH")
    for first, address in (("Frank", "Frank.Private@gmail.com"), ("Fritz", "fritz@phi.example"),
                           ("Jon", "jon@phi.example")):
        contact = world.salesforce_contact(1, address, first, "Phi", account)
        world.salesforce_won_deal(1, contact, account, 100)
    world.file_lead(1, "frank@phi.example, frank.private@gmail.com", "Frank", "Phi", opted_out="yes")
    world.file_lead(1, "Fritz Phi <fritz@phi.example>; fritz.phi@web.example", "Fritz", "Phi", opted_out="ja")
    # a second trial's: these separators kept the field one key
    separated = {sep: (f"mia{n}@phi.example", f"mio{n}@phi.example")
                 for n, sep in enumerate(("/", "|", "\uff0c", "\u3001", "+", "][", "\\",
                                          # a third's: Unicode spaces, which the key deleted, joining two
                                          "\u00a0", "\u2009", "\u3000", "\u200b", "\ufeff", "\u2028", "\u0085",
                                          # a fourth's: control and format characters, fillers
                                          "\x1c", "\x1f", "\x01", "\x7f", "\u00ad", "\u00b7", "\u2800",
                                          "\u3164", "\ufffc"))}
    for sep, (mia, mio) in separated.items():
        for address in (mia, mio):
            contact = world.salesforce_contact(1, address, "Mia", "Phi", account)
            world.salesforce_won_deal(1, contact, account, 100)
        world.file_lead(1, f"[{mia}{sep}{mio}]", "Mia", "Phi", opted_out="yes")
    for n in range(600):  # 25 bad file leads in 625 stay under the 5 % that would stop the batch
        world.file_lead(1, f"reader{n}@phi.example", "Reader", f"Nr{n}")
    (reached,) = run_world(world)
    assert_never_reached(reached, {"frankprivate@gmail.com", "fritz@phi.example",
                                   *(address for pair in separated.values() for address in pair)})
    assert reached.csv == {"jon@phi.example"}


def test_an_internationalised_domain_written_in_ascii_is_the_same_mailbox(run_world):
    """Found by a README-only trial: anna@xn--mller-kva.example (the domain as DNS carries it) and
    anna@müller.example are one mailbox, so an unsubscribe or bounce under either spelling
    suppresses the other."""
    world = World()
    account = world.salesforce_account(1, "Müller KG")
    for first, address in (("Anna", "anna@müller.example"), ("Zoë", "zoe@xn--bcher-kva.example"),
                           ("Carl", "carl@müller.example")):
        contact = world.salesforce_contact(1, address, first, "Müller", account)
        world.salesforce_won_deal(1, contact, account, 100)
    world.hubspot_event(1, "anna@XN--MLLER-KVA.example", "STATUSCHANGE", day=8, status="UNSUBSCRIBED")
    world.hubspot_event(1, "Zoe@Bücher.example", "BOUNCE", day=9, category="UNKNOWN_USER")
    (reached,) = run_world(world)
    assert_never_reached(reached, {"anna@müller.example", "zoe@bücher.example"})
    assert reached.csv == {"carl@müller.example"}


def test_an_internationalised_excluded_domain_is_excluded_in_either_spelling(run_world):
    """Found by a README-only trial: excluded_domains refused müller.example ('not a domain'), and
    its ASCII form excluded nothing: the mailbox keys hold the Unicode form."""
    world = World()
    for address in ("zoe@xn--tst-qla.example", "kim@Täst.example", "ole@müller.example", "ida@XN--MLLER-KVA.example",
                    "jon@zeta.example"):
        lead = world.file_lead(1, address, "X", address.split("@")[0])
        world.file_deal(1, lead)
    yaml = NURTURE_YAML.replace("excluded_domains: [mailinator.com, test.example]",
                                "excluded_domains: [mailinator.com, test.example, xn--tst-qla.example, Müller.example]")
    assert yaml != NURTURE_YAML
    (reached,) = run_world(world, nurture_yaml=yaml)
    assert reached.csv == {"jon@zeta.example"}


def test_an_unsubscribe_and_a_resubscribe_of_the_same_moment_leave_the_mailbox_suppressed(run_world):
    """Found by a README-only trial: of two status changes at the same moment, the one whose record
    id sorted last counted, so Max (unsubscribed, then resubscribed by id) got mail and Nora (the
    other order) did not. Only a later resubscribe lifts an unsubscribe."""
    world = World()
    account = world.salesforce_account(1, "Xi AG")
    for first, address in (("Max", "max@xi.example"), ("Nora", "nora@xi.example"), ("Olaf", "olaf@xi.example")):
        contact = world.salesforce_contact(1, address, first, "Xi", account)
        world.salesforce_won_deal(1, contact, account, 100)
    world.hubspot_event(1, "max@xi.example", "STATUSCHANGE", day=8, status="UNSUBSCRIBED")
    world.hubspot_event(1, "max@xi.example", "STATUSCHANGE", day=8, status="SUBSCRIBED")
    world.hubspot_event(1, "nora@xi.example", "STATUSCHANGE", day=8, status="SUBSCRIBED")
    world.hubspot_event(1, "nora@xi.example", "STATUSCHANGE", day=8, status="UNSUBSCRIBED")
    world.hubspot_event(1, "olaf@xi.example", "STATUSCHANGE", day=8, status="UNSUBSCRIBED")
    world.hubspot_event(1, "olaf@xi.example", "STATUSCHANGE", day=8, hour=13, status="SUBSCRIBED")
    (reached,) = run_world(world)
    assert_never_reached(reached, {"max@xi.example", "nora@xi.example"})
    assert reached.csv == {"olaf@xi.example"}  # resubscribed an hour later


def test_a_later_run_decides_again_each_mailbox_whose_evidence_changed_and_only_those(run_world):
    """Run 2 brings one change each: a HubSpot unsubscribe (Ada), a Salesforce opt-out (Ben), a
    bounce (Cem), a manual suppression between the runs (Dora), an address changed to a mailbox that
    bounced before anyone held it (Eli), a resubscribe after run 1's unsubscribe (Fay), an
    unsubscribe in the Mailchimp audience (Hal); Gus changes nothing. Run 2's refresh decides again
    only the mailboxes and persons these touch (meta.runs says how many), and run_world checks every
    run's tables against a refresh of everything. The lists go to files only: a platform's members,
    pushed in run 1, would land again in run 2."""
    from sqlalchemy import text

    world = World()
    account = world.salesforce_account(1, "Zeta AG")
    contacts = {}
    for first in ("Ada", "Ben", "Cem", "Dora", "Eli", "Fay", "Gus", "Hal"):
        contacts[first] = world.salesforce_contact(1, f"{first.lower()}@zeta.example", first, "Zeta", account)
        world.salesforce_won_deal(1, contacts[first], account, 100)
    world.hubspot_event(1, "fay@zeta.example", "STATUSCHANGE", day=3, status="UNSUBSCRIBED")
    world.hubspot_event(1, "eli.work@zeta.example", "BOUNCE", day=3, category="UNKNOWN_USER")
    world.hubspot_event(2, "Ada@Zeta.example", "STATUSCHANGE", day=2, status="UNSUBSCRIBED")
    world.salesforce_opt_out(2, contacts["Ben"])
    world.hubspot_event(2, "cem@zeta.example", "BOUNCE", day=2, category="MAILBOX_MISCONFIGURATION")
    world.salesforce_change(2, contacts["Eli"], Email="Eli.Work@zeta.example")
    world.hubspot_event(2, "fay@zeta.example", "STATUSCHANGE", day=2, status="SUBSCRIBED")
    world.mailchimp_member(2, "hal@zeta.example", "unsubscribed")

    def before_run(n, _folder):
        if n == 2:
            assert cli.main(["lists", "suppress", "dora@zeta.example", "--reason", "asked by phone"]) == 0

    only_files = NURTURE_YAML.replace("destinations: [csv, view, hubspot_list, files, mailchimp, salesforce_campaign]",
                                      "destinations: [csv]")  # no platform whose members land again in run 2
    assert only_files != NURTURE_YAML
    first, second = run_world(world, runs=2, before_run=before_run, nurture_yaml=only_files)
    assert first.csv == {f"{name.lower()}@zeta.example" for name in ("Ada", "Ben", "Cem", "Dora", "Eli", "Gus", "Hal")}
    assert second.csv == {"fay@zeta.example", "gus@zeta.example"}
    with run_world.engine.connect() as conn:
        scopes = dict(conn.execute(text("select run_id, stats -> 'suppression_scope' from meta.runs"
                                        " where stage = 'nurture'")).all())
    assert scopes["run-1"] == "whole"
    # the eight mailboxes of Ada, Ben, Cem, Dora, Fay, Hal and both of Eli's; their seven persons, not Gus
    assert scopes["run-2"] == {"mailboxes": 8, "persons": 7}


def test_an_opt_out_flag_no_parser_reads_keeps_the_merge_going_and_counts_as_an_opt_out(run_world):
    """Found: staging cast the CRM's flags with ::boolean, so one contact whose HasOptedOutOfEmail
    held 'ja' stopped every merge from then on. Validation now reads the same projection, which
    casts safely, and an opt-out flag nobody can read counts as an opt-out."""
    world = World()
    account = world.salesforce_account(1, "Flagge GmbH")
    for first, address, flag in (("Uta", "uta@flagge.example", "ja"), ("Udo", "udo@flagge.example", False)):
        contact = world.salesforce_contact(1, address, first, "Flagge", account, opted_out=flag)
        world.salesforce_won_deal(1, contact, account, 100)
    (reached,) = run_world(world)
    assert_never_reached(reached, {"uta@flagge.example"})
    assert reached.csv == {"udo@flagge.example"}


def test_an_unreadable_hubspot_opt_out_and_one_on_a_quarantined_contact_both_suppress(run_world):
    """Found by a trial: HubSpot's hs_email_optout counted only when it read exactly 'true', in
    staging and for quarantined records alike, so 'ja' and '1' let the address onto the lists.
    Every source's flag now goes through core.is_opt_out_value."""
    world = World()
    account = world.salesforce_account(1, "Opt AG")
    for first, address in (("Ada", "ada@opt.example"), ("Bea", "bea@opt.example"), ("Cem", "cem@opt.example")):
        contact = world.salesforce_contact(1, address, first, "Opt", account)
        world.salesforce_won_deal(1, contact, account, 100)
    world.hubspot_contact(1, "ada@opt.example", "Ada", "Opt", opted_out="ja")
    world.hubspot_contact(1, "bea@opt.example", "Bea", "Opt", opted_out="1", createdate=False)  # quarantined
    for n in range(20):  # one bad contact in 22 stays under the 5 % that would stop the batch
        world.hubspot_contact(1, f"fan{n}@opt.example", "Fan", f"Nr{n}")
    (reached,) = run_world(world)
    assert_never_reached(reached, {"ada@opt.example", "bea@opt.example"})
    assert reached.csv == {"cem@opt.example"}


def test_a_revenue_no_amount_column_holds_is_quarantined_and_the_rest_goes_on(run_world):
    """Found by a trial: a revenue above what numeric(18, 2) holds passed "not negative" and then
    failed every merge (numeric field overflow) until the file was replaced."""
    revenue = "99999999999999999999"
    world = World()
    for n in range(20):  # one bad deal in 21 stays under the 5 % that would stop the batch
        world.file_deal(1, world.file_lead(1, f"buyer{n}@deal.example", "Buyer", f"Nr{n}"))
    world.file_deal(1, world.file_lead(1, "odd@deal.example", "Odd", "Deal"), revenue=revenue)
    (reached,) = run_world(world)
    assert reached.csv == {f"buyer{n}@deal.example" for n in range(20)}


def test_an_unsubscribe_landed_in_a_run_is_off_every_list_at_its_end(run_world):
    """Opt-out latency: listed and pushed after run 1, unsubscribed (another spelling) in run 2."""
    world = World()
    contact = world.hubspot_contact(1, "eva@ost.example", "Eva", "Kühn")
    account = world.salesforce_account(1, "Ost KG")
    sf_contact = world.salesforce_contact(1, "eva@ost.example", "Eva", "Kühn", account)
    world.salesforce_won_deal(1, sf_contact, account, 300)
    world.hubspot_event(2, "Eva+news@OST.example", "STATUSCHANGE", day=3, status="UNSUBSCRIBED")
    first, second = run_world(world, runs=2)
    assert first.platform == first.csv == first.files == first.mailchimp == first.campaign == {"eva@ost.example"}
    assert world.contact_emails[contact] == "eva@ost.example"
    assert_never_reached(second, {"eva@ost.example"})
    assert second.platform == second.mailchimp == second.campaign == set()


def test_an_export_that_cannot_be_written_fails_the_run_after_the_warehouse_and_platform_are_safe(run_world):
    """Run 2 cannot write its file (a folder stands where the file goes): the lists, the view and the
    HubSpot list still drop the person who unsubscribed in run 2, the error names the program and the
    path, and run 3 writes the file."""
    world = World()
    world.hubspot_contact(1, "eva@ost.example", "Eva", "Kühn")
    account = world.salesforce_account(1, "Ost KG")
    for first, address in (("Eva", "eva@ost.example"), ("Max", "max@ost.example")):
        contact = world.salesforce_contact(1, address, first, "Kühn", account)
        world.salesforce_won_deal(1, contact, account, 300)
    world.hubspot_event(2, "eva@ost.example", "STATUSCHANGE", day=3, status="UNSUBSCRIBED")
    target = {}

    def break_export(run: int, folder: Path) -> None:
        path = folder / "exports" / "nurture" / f"customers_{AS_OF}.csv"
        if run == 2:
            path.unlink()
            path.mkdir()
            target["path"] = path
        if run == 3:
            path.rmdir()

    first, second, third = run_world(world, runs=3, before_run=break_export, failing_runs=(2,))
    assert first.csv == first.view == {"eva@ost.example", "max@ost.example"}
    assert first.platform == {"eva@ost.example"}  # Max has no HubSpot contact
    assert "program customers" in second.error and str(target["path"]) in second.error
    assert second.table == second.view == second.pull == {"max@ost.example"}
    assert second.platform == set()  # Max has no HubSpot contact; Eva was taken off
    assert third.csv == {"max@ost.example"}


def test_a_program_that_cannot_be_built_changes_nothing(run_world):
    """A second program misses its eligibility parameter: the run fails naming it, before any list,
    view or suppression changed."""
    broken = NURTURE_YAML.replace("programs:\n", "programs:\n  onboarding:\n    eligibility: nurture/programs/"
                                  "won_recently.sql\n    params: {windows_days: 7}\n")
    world = World()
    lead = world.file_lead(1, "ute@west.example", "Ute", "Lang")
    world.file_deal(1, lead)
    (reached,) = run_world(world, nurture_yaml=broken, failing_runs=(1,))
    assert "program onboarding" in reached.error and "window_days" in reached.error
    assert all(addresses == set() for addresses in reached.everywhere().values())


def test_a_rerun_of_an_earlier_date_delivers_nobody_suppressed_since(run_world):
    """Runs for June 30 and July 1, then Eva is suppressed by hand and June 30 is run again: the
    view and the pull (July 1's list) and the HubSpot list drop her, and the run succeeds."""
    world = World()
    world.hubspot_contact(1, "eva@ost.example", "Eva", "Kühn")
    account = world.salesforce_account(1, "Ost KG")
    contact = world.salesforce_contact(1, "eva@ost.example", "Eva", "Kühn", account)
    world.salesforce_won_deal(1, contact, account, 300)

    def suppress(run: int, _folder: Path) -> None:
        if run == 3:
            assert cli.main(["lists", "suppress", "EVA@ost.example", "--reason", "asked by phone"]) == 0

    *_, third = run_world(world, runs=3, before_run=suppress, dates=(AS_OF, AS_OF + timedelta(days=1), AS_OF))
    assert third.error is None
    assert_never_reached(third, {"eva@ost.example"})
    later = Path(os.environ["SMARKETING_EXPORT_DIR"]) / "nurture" / f"customers_{AS_OF + timedelta(days=1)}.csv"
    assert later.read_text().splitlines() == ["email,first_name,last_name,won_date"]  # written again without her


def test_formula_cells_are_neutralised_in_files_and_pulls(run_world, monkeypatch):
    world = World()
    lead = world.file_lead(1, "otto@formel.example", '=HYPERLINK("http://evil.example","Klick")', "+Müller")
    world.file_deal(1, lead)
    run_world(world)
    path = Path(os.environ["SMARKETING_EXPORT_DIR"]) / "nurture" / f"customers_{AS_OF}.csv"
    assert path.stat().st_mode & 0o777 == 0o640  # group-readable: destinations.csv.file_mode
    with open(path, newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["first_name"] == '\'=HYPERLINK("http://evil.example","Klick")'
    assert row["last_name"] == "'+Müller"
    monkeypatch.chdir(path.parent)
    for argv in (["lists", "pull", "customers"], ["lists", "pull", "customers", "--out", "-"]):
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli.main(argv) == 0
        (pulled,) = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert pulled["first_name"].startswith("'=") and pulled["last_name"] == "'+Müller"
    assert not (path.parent / "-").exists()  # a trial's: --out - wrote a file named "-"


# -- the property ------------------------------------------------------------------------------------

MAILBOXES = [("sales", "kontor.example"), ("ann.berg", "gmail.com"), ("jürgen", "müller.example"),
             ("info", "beta.example"), ("qa", "eu.mailinator.com")]
NAMES = [("Ann", "Berg"), ("Jürgen", "Müller"), ("Ана", "Петрова"), ("Li", "Wei"), ("Bob", "Ray"), ("Zoë", "Ng")]


@st.composite
def spelling(draw, mailbox: int) -> str:
    local, domain = MAILBOXES[mailbox]
    if domain == "gmail.com":
        local = draw(st.sampled_from([local, local.replace(".", ""), "a.n.n.b.e.r.g"]))
        domain = draw(st.sampled_from(["gmail.com", "googlemail.com"]))
    if draw(st.booleans()):
        local += "+" + draw(st.sampled_from(["news", "crm", "x1"]))
    address = f"{local}@{domain}"
    address = draw(st.sampled_from([address, address.upper(), address.title()]))
    return draw(st.sampled_from(["", " ", "\u00a0"])) + address + draw(st.sampled_from(["", " "]))


@st.composite
def worlds(draw):
    world, truth = World(), []  # truth: (run, mailbox, what) for every suppressing signal
    account = {1: world.salesforce_account(1, "Kontor AG")}
    for _ in range(draw(st.integers(1, 5))):
        mailbox = draw(st.integers(0, len(MAILBOXES) - 1))
        first, last = draw(st.sampled_from(NAMES))
        run = draw(st.sampled_from([1, 2]))
        if run not in account:
            account[run] = world.salesforce_account(run, "Kontor AG")
        where = draw(st.sampled_from(["salesforce", "file", "both"]))
        opted_out = draw(st.booleans()) and draw(st.booleans())
        if opted_out:
            truth.append((run, mailbox, "opt_out"))
        if where in ("salesforce", "both"):
            contact = world.salesforce_contact(run, draw(spelling(mailbox)), first, last, account[run],
                                               opted_out=opted_out)
            if draw(st.booleans()):  # converted from a lead, perhaps with another spelling and flag
                lead_out = draw(st.booleans()) and draw(st.booleans())
                if lead_out:
                    truth.append((run, mailbox, "opt_out"))
                world.salesforce_lead(run, draw(spelling(mailbox)), first, last, "Kontor AG", opted_out=lead_out,
                                      converted_contact=contact)
            world.salesforce_won_deal(run, contact, account[run], draw(st.integers(100, 5000)))
        if where in ("file", "both"):
            if where == "both" and not opted_out and draw(st.booleans()):  # the export's flag alone
                opted_out = draw(st.booleans())
                if opted_out:
                    truth.append((run, mailbox, "opt_out"))
            lead = world.file_lead(run, draw(spelling(mailbox)), first, last, "Kontor AG",
                                   opted_out="x" if opted_out else draw(st.sampled_from(["", "nein", "0"])))
            world.file_deal(run, lead)
            if run == 1 and draw(st.booleans()):  # the same row again in run 2's export, its flag perhaps blank
                row = next(row for _, row in world.file_leads if row["Kontakt-Nr"] == lead)
                again = draw(st.sampled_from(["", "nein", row["Keine Werbung"]]))  # an opt-out of run 1 holds
                world.file_leads.append((2, dict(row, **{"Keine Werbung": again})))
    if draw(st.booleans()):  # a leads export the drop cannot split: rejected, every address in it held
        world.comma_runs.add(draw(st.sampled_from([1, 2])))
    seen = set()
    for _ in range(draw(st.integers(0, 3))):  # HubSpot contacts (one per exact address, as HubSpot allows)
        mailbox = draw(st.integers(0, len(MAILBOXES) - 1))
        address, run = draw(spelling(mailbox)), draw(st.sampled_from([1, 2]))
        if address.strip().lower() in seen:
            continue
        seen.add(address.strip().lower())
        status, basis = draw(st.sampled_from([("SUBSCRIBED", "LEGITIMATE_INTEREST_CLIENT"), ("NOT_SUBSCRIBED", None),
                                              ("SUBSCRIBED", None)]))
        opted_out = draw(st.booleans()) and draw(st.booleans())
        if status == "NOT_SUBSCRIBED" or basis is None or opted_out:
            truth.append((run, mailbox, "status"))
        first, last = draw(st.sampled_from(NAMES))
        world.hubspot_contact(run, address, first, last, "Kontor AG", opted_out=opted_out, status=status, basis=basis)
    status_events = []
    for _ in range(draw(st.integers(0, 4))):  # events, with or without a person behind them, early or late
        mailbox, run = draw(st.integers(0, len(MAILBOXES) - 1)), draw(st.sampled_from([1, 2]))
        day, kind = draw(st.integers(1, 13)), draw(st.sampled_from(["hard", "soft", "spam", "unsub", "resub"]))
        address = draw(spelling(mailbox))
        if kind in ("hard", "soft"):
            category = draw(st.sampled_from(HARD_BOUNCES)) if kind == "hard" else "MAILBOX_FULL"
            world.hubspot_event(run, address, "BOUNCE", day, category=category)
            if kind == "hard":
                truth.append((run, mailbox, "hard_bounce"))
        elif kind == "spam":
            world.hubspot_event(run, address, "SPAMREPORT", day)
            truth.append((run, mailbox, "spam"))
        else:
            status, hour = "UNSUBSCRIBED" if kind == "unsub" else "SUBSCRIBED", draw(st.integers(0, 1))  # ties too
            world.hubspot_event(run, address, "STATUSCHANGE", day, hour=hour, status=status)
            status_events.append((run, mailbox, day, hour, status))
    for _ in range(draw(st.integers(0, 3))):  # the Mailchimp audience: unsubscribed there, cleaned, pending, complained
        mailbox, run = draw(st.integers(0, len(MAILBOXES) - 1)), draw(st.sampled_from([1, 2]))
        kind, address = draw(st.sampled_from(["unsubscribed", "cleaned", "pending", "abuse"])), draw(spelling(mailbox))
        if kind == "abuse":
            world.mailchimp_abuse(run, address.strip())
        else:
            world.mailchimp_member(run, address.strip(), kind)
        truth.append((run, mailbox, f"mailchimp_{kind}"))
    return world, truth, status_events


def must_suppress(truth, status_events, run: int) -> set[str]:
    """The mailbox keys no list may hold after run ``run``, from the generated signals alone."""
    local = {i: f"{m[0].replace('.', '') if m[1] == 'gmail.com' else m[0]}@{m[1]}" for i, m in enumerate(MAILBOXES)}
    bad = {local[m] for r, m, _ in truth if r <= run}
    latest = {}
    # in time order; of one moment's changes the unsubscribe counts
    for r, m, _day, _hour, status in sorted(status_events, key=lambda e: (e[0], e[2], e[3], e[4] == "UNSUBSCRIBED")):
        if r <= run:
            latest[m] = status
    bad |= {local[m] for m, status in latest.items() if status == "UNSUBSCRIBED"}
    return bad | {local[4]}  # eu.mailinator.com is a subdomain of an excluded domain


@settings(max_examples=int(os.environ.get("SMARKETING_PROPERTY_EXAMPLES", "3")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(generated=worlds())
def test_no_mailbox_any_source_suppressed_reaches_any_list(run_world, generated):
    world, truth, status_events = generated
    for run, reached in enumerate(run_world(world, runs=2), start=1):
        assert_never_reached(reached, must_suppress(truth, status_events, run))
