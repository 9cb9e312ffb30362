"""Identity resolution beyond name and company, from source records: nicknames, swapped names,
phone, LinkedIn, the ids of the HubSpot-Salesforce sync, one record per source per human, and the
review queue with decisions that last. The traps that must stay apart are here too."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from smarketing import cli
from smarketing.landing import land_page
from smarketing.sources.base import RawRecord
from smarketing.transform import merge_core
from tests.fixtures.drops import leads_drop
from tests.integration.test_identity import AS_OF, hs_contact, load, person_of, same, sf_contact, sf_lead

T1 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def review_rows(eng):
    with eng.connect() as conn:
        return conn.execute(text("select left_record, right_record, reason, evidence ->> 'name'"
                                 " from core.identity_review order by 1, 2")).all()


def test_nicknames_in_english_and_german_are_one_person(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "bob.smith@gmail.com", "Bob", "Smith", "Acme Tools"),
                            hs_contact("2", "sepp.huber@web.de", "Sepp", "Huber", "Brauerei Ödenwald"),
                            hs_contact("3", "hans.m@gmx.at", "Hans", "Müller", "Kaffeerösterei Graz")],
         salesforce__leads=[sf_lead("00Q1", "rsmith@acme-tools.com", "Robert", "Smith", "Acme Tools Inc."),
                            sf_lead("00Q2", "j.huber@oedenwald.de", "Josef", "Huber", "Brauerei Ödenwald GmbH"),
                            sf_lead("00Q3", "jm@kaffee-graz.at", "Johannes", "Mueller", "Kaffeerösterei Graz")])
    links = person_of(empty_warehouse)
    for hs, sf in (("1", "00Q1"), ("2", "00Q2"), ("3", "00Q3")):
        assert same(links, f"hubspot:contacts:{hs}", f"salesforce:leads:{sf}")
    with empty_warehouse.connect() as conn:
        names = conn.exec_driver_sql("select evidence ->> 'name' from core.identity_edge where match_rule = 'fuzzy'"
                                     " order by 1").scalars().all()
    assert names == ["nickname"] * 3


def test_a_nickname_of_another_name_is_not_a_match(empty_warehouse):
    """Ted is Edward or Theodore, not Robert; Hans is Johannes, not Josef."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "ted.smith@gmail.com", "Ted", "Smith", "Acme Tools"),
                            hs_contact("2", "hans.huber@web.de", "Hans", "Huber", "Brauerei Ödenwald")],
         salesforce__leads=[sf_lead("00Q1", "rsmith@acme-tools.com", "Robert", "Smith", "Acme Tools"),
                            sf_lead("00Q2", "j.huber@oedenwald.de", "Josef", "Huber", "Brauerei Ödenwald")])
    links = person_of(empty_warehouse)
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert not same(links, "hubspot:contacts:2", "salesforce:leads:00Q2")


def test_first_and_last_name_swapped_are_one_person(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "zhang.wei@qq.com", "Zhang", "Wei", "Lotus Trading")],
         salesforce__leads=[sf_lead("00Q1", "wei.zhang@lotus-trading.cn", "Wei", "Zhang", "Lotus Trading Ltd")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_a_personal_address_without_a_namesake_joins_the_work_record(empty_warehouse):
    """No company on the personal side: the full name, which nobody else carries, decides."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "sophie.goncalves@yahoo.com", "Sophie", "Gonçalves", None)],
         salesforce__leads=[sf_lead("00Q1", "s.goncalves@porto-wine.pt", "Sophie", "Goncalves", "Porto Wine Lda")])
    assert same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_a_common_name_without_company_or_other_evidence_stays_apart(empty_warehouse):
    """Four Thomas Müllers in the data: a fifth with a gmail address and nothing else is no one's."""
    leads = [sf_lead(f"00Q{n}", f"t.mueller@firm{n}.de", "Thomas", "Müller", f"Firma {n}") for n in range(4)]
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "thomas.mueller@gmail.com", "Thomas", "Müller", None)],
         salesforce__leads=leads)
    links = person_of(empty_warehouse)
    assert all(not same(links, "hubspot:contacts:1", f"salesforce:leads:00Q{n}") for n in range(4))


@pytest.mark.parametrize(("hubspot_company", "salesforce_company"), [
    ("Acme S.A.", "Acme SA"), ("Nordwind B.V.", "Nordwind"), ("Bergbau G.m.b.H.", "Bergbau GmbH"),
    ("Vela S.à r.l.", "Vela SARL"), ("Klee e.K.", "Klee"), ("Orka Sp. z o.o.", "Orka"), ("Koala Pty Ltd", "Koala"),
    ("Dachs UG (haftungsbeschränkt)", "Dachs UG")])
def test_a_legal_form_written_with_dots_is_the_legal_form(empty_warehouse, hubspot_company, salesforce_company):
    """S.A. is SA, G.m.b.H. is GmbH: the company is the same (+3), so a namesake at it, with
    another free-mail address, is the same person (exact name 8, rare +2, company 3). Found by a
    README-only trial: dotted forms stayed in the key, and the companies counted as different (-3)."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "frank.huber@gmail.com", "Frank", "Huber", hubspot_company)],
         salesforce__leads=[sf_lead("00Q1", "fhuber1970@yahoo.com", "Frank", "Huber", salesforce_company)])
    assert same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_namesakes_at_other_companies_stay_apart(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "anna.berg@nordwind.de", "Anna", "Berg", "Nordwind")],
         salesforce__leads=[sf_lead("00Q1", "anna.berg@suedwind.de", "Anna", "Berg", "Südwind")])
    assert not same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_a_personal_address_goes_to_the_namesake_whose_hubspot_contact_is_missing(empty_warehouse):
    """Two Jonas Webers at one company, each with a work mailbox in Salesforce; the first also has
    his HubSpot contact under the work address. A HubSpot contact from a personal address matches
    both equally by name and company: one HubSpot contact per human sends it to the second."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "jonas.weber@stahlwerk.de", "Jonas", "Weber", "Stahlwerk"),
                            hs_contact("2", "jonas.weber.privat@gmail.com", "Jonas", "Weber", "Stahlwerk")],
         salesforce__leads=[sf_lead("00Q1", "jonas.weber@stahlwerk.de", "Jonas", "Weber", "Stahlwerk AG"),
                            sf_lead("00Q2", "jonas.weber2@stahlwerk.de", "Jonas", "Weber", "Stahlwerk AG")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert same(links, "hubspot:contacts:2", "salesforce:leads:00Q2")
    assert not same(links, "hubspot:contacts:1", "hubspot:contacts:2")


def test_a_phone_number_decides_between_two_namesakes(empty_warehouse):
    """The phone written three ways is one number; the namesake's differs."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "lena.koch@gmail.com", "Lena", "Koch", "Stahlwerk",
                                       phone="+49 30 1234567")],
         salesforce__leads=[sf_lead("00Q1", "lena.koch@stahlwerk.de", "Lena", "Koch", "Stahlwerk", Phone="030 4445555"),
                            sf_lead("00Q2", "lena.koch2@stahlwerk.de", "Lena", "Koch", "Stahlwerk",
                                    Phone="(030) 123-4567")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q2")
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert review_rows(empty_warehouse) == []


def test_the_ids_of_the_hubspot_salesforce_sync_join_what_nothing_else_would(empty_warehouse):
    """Other address, a nickname and a new employer: the sync's Salesforce id on the contact says it is one human."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "liz@newjob.io", "Liz", "Taylor", "New Job",
                                       salesforcecontactid="0031", salesforceleadid="00Q1")],
         salesforce__leads=[sf_lead("00Q1", "e.taylor@oldjob.com", "Elizabeth", "Taylor", "Old Job",
                                    IsConverted=True, ConvertedContactId="0031")],
         salesforce__contacts=[sf_contact("0031", "e.taylor@oldjob.com", "Elizabeth", "Taylor")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:contacts:0031")
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert links["hubspot:contacts:1"][1] == "crm_sync"


def test_a_linkedin_profile_from_a_file_drop_joins_a_contact_without_company(empty_warehouse, tmp_path):
    """A comma CSV export with its own column names; the profile URL written differently on each side."""
    from smarketing.file_drops import load_drop

    drop = leads_drop(tmp_path, "Lead ID;Vorname;Nachname;Firma;LinkedIn\n"
                                "L-7;Małgorzata;Wójcik;Bank Śląski;https://pl.linkedin.com/in/gosia-wojcik/?trk=x\n",
                      "    columns: {Vorname: first_name, Nachname: last_name, Firma: company,"
                      " LinkedIn: linkedin_url}\n")
    assert load_drop(empty_warehouse, drop, "run-1").rows_loaded == 1
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "gosia.w@onet.pl", "Gosia", "Wojcik", None,
                                                        hs_linkedin_url="linkedin.com/in/Gosia-Wojcik")])
    links = person_of(empty_warehouse)
    (file_record,) = [k for k in links if k.startswith("file:leads:")]
    assert same(links, "hubspot:contacts:1", file_record)


def test_a_shared_mailbox_under_two_names_stays_two_people(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "info@baeckerei-ost.de", "Eva", "Ost", "Bäckerei Ost")],
         salesforce__leads=[sf_lead("00Q1", "info@baeckerei-ost.de", "Karl", "Ost", "Bäckerei Ost")])
    assert not same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def tie(eng):
    """A file lead with a personal address ties between two Mia Schulzes at one company."""
    load(eng, hubspot__contacts=[hs_contact("1", "mia.schulz@kranbau.de", "Mia", "Schulz", "Kranbau"),
                                 hs_contact("2", "mia.schulz2@kranbau.de", "Mia", "Schulz", "Kranbau")],
         salesforce__leads=[sf_lead("00Q9", "mia.s@gmail.com", "Mia", "Schulz", "Kranbau")])


def test_a_true_tie_waits_in_the_review_queue_and_a_decision_wins_from_then_on(empty_warehouse, capsys):
    tie(empty_warehouse)
    links = person_of(empty_warehouse)
    assert not same(links, "salesforce:leads:00Q9", "hubspot:contacts:1")
    assert not same(links, "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert review_rows(empty_warehouse) == [
        ("hubspot:contacts:1", "salesforce:leads:00Q9", "a tie: the best matches are two different people", "exact"),
        ("hubspot:contacts:2", "salesforce:leads:00Q9", "a tie: the best matches are two different people", "exact")]

    assert cli.main(["identity", "review"]) == 0
    listed = capsys.readouterr().out
    assert "hubspot:contacts:1" in listed and "Mia Schulz | Kranbau | m***@gmail.com" in listed
    assert "mia.s@gmail.com" not in listed  # a review list shows no full address
    assert cli.main(["identity", "review", "--same", "salesforce:leads:00Q9", "hubspot:contacts:2",
                     "--note", "called her"]) == 0
    assert review_rows(empty_warehouse) == [("hubspot:contacts:1", "salesforce:leads:00Q9",
                                             "a tie: the best matches are two different people", "exact")]

    merge_core(empty_warehouse, AS_OF)
    links = person_of(empty_warehouse)
    assert same(links, "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert links["salesforce:leads:00Q9"][1] == "review_same"
    assert review_rows(empty_warehouse) == []  # decided: the other half of the tie is no question any more
    merge_core(empty_warehouse, AS_OF, full=True)
    assert person_of(empty_warehouse) == links


def test_a_decision_that_two_records_differ_splits_a_match_and_lasts(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "ben.ott@gmail.com", "Ben", "Ott", "Ott Logistik")],
         salesforce__leads=[sf_lead("00Q1", "b.ott@ott-logistik.de", "Ben", "Ott", "Ott Logistik")])
    assert same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert cli.main(["identity", "review", "--different", "hubspot:contacts:1", "salesforce:leads:00Q1",
                     "--by", "data steward"]) == 0
    merge_core(empty_warehouse, AS_OF)
    links = person_of(empty_warehouse)
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    merge_core(empty_warehouse, AS_OF, full=True)
    assert not same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select decision, decided_by from meta.identity_decision").all() == [
            ("different", "data steward")]


def test_a_decision_about_an_unknown_record_is_refused(empty_warehouse, capsys):
    tie(empty_warehouse)
    assert cli.main(["identity", "review", "--same", "hubspot:contacts:1", "hubspot:contacts:404"]) == 2
    assert "hubspot:contacts:404" in capsys.readouterr().err
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from meta.identity_decision").scalar_one() == 0


def test_more_evidence_arriving_later_settles_a_tie(empty_warehouse):
    """The tie's lead gets a phone number in Salesforce that one of the two has in HubSpot."""
    tie(empty_warehouse)
    later = datetime(2026, 3, 2, 9, tzinfo=UTC)
    land_page(empty_warehouse, "hubspot", "contacts", [
        hs_contact("2", "mia.schulz2@kranbau.de", "Mia", "Schulz", "Kranbau", at=later, phone="+43 1 5550123")],
        "test", later)
    land_page(empty_warehouse, "salesforce", "leads", [
        sf_lead("00Q9", "mia.s@gmail.com", "Mia", "Schulz", "Kranbau", at=later, MobilePhone="01 5550123")],
        "test", later)
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("update meta.batches set validated_at = now() where validated_at is null")
    merge_core(empty_warehouse, AS_OF)
    assert same(person_of(empty_warehouse), "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert review_rows(empty_warehouse) == []


def test_raw_records_with_the_new_fields_missing_resolve_as_before(empty_warehouse):
    """A portal without the Salesforce integration and an org without phone fields: nothing fails."""
    load(empty_warehouse, hubspot__contacts=[RawRecord("5", datetime(2026, 3, 1, tzinfo=UTC), {
        "id": "5", "properties": {"email": "ada@example.com", "firstname": "Ada"}, "archived": False})],
         salesforce__leads=[sf_lead("00Q5", "ADA@example.com", None, "Lovelace", None)])
    assert same(person_of(empty_warehouse), "hubspot:contacts:5", "salesforce:leads:00Q5")


# -- what a trial from the README alone found ---------------------------------------------------------

def test_undoing_a_decision_lets_the_evidence_decide_again(empty_warehouse):
    tie(empty_warehouse)
    assert cli.main(["identity", "review", "--same", "salesforce:leads:00Q9", "hubspot:contacts:2"]) == 0
    merge_core(empty_warehouse, AS_OF)
    assert same(person_of(empty_warehouse), "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert cli.main(["identity", "review", "--undo", "hubspot:contacts:2", "salesforce:leads:00Q9"]) == 0
    merge_core(empty_warehouse, AS_OF)
    links = person_of(empty_warehouse)
    assert not same(links, "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert [row[:2] for row in review_rows(empty_warehouse)] == [
        ("hubspot:contacts:1", "salesforce:leads:00Q9"), ("hubspot:contacts:2", "salesforce:leads:00Q9")]
    with empty_warehouse.connect() as conn:  # the lead's person stands alone again: no longer "merged"
        assert conn.exec_driver_sql(
            "select count(*) from core.person_merge m join core.person_identity i on i.person_id = m.merged_person_id"
            " and i.is_active").scalar_one() == 0
    assert cli.main(["identity", "review", "--undo", "hubspot:contacts:2", "salesforce:leads:00Q9"]) == 2


def test_a_decision_deleted_by_hand_is_gone_at_the_next_merge_and_a_full_refresh_matches_everything_again(
        empty_warehouse):
    tie(empty_warehouse)
    load(empty_warehouse, hubspot__contacts=[hs_contact("7", "ben.ott@gmail.com", "Ben", "Ott", "Ott Logistik")],
         salesforce__leads=[sf_lead("00Q7", "b.ott@ott-logistik.de", "Ben", "Ott", "Ott Logistik")])
    assert cli.main(["identity", "review", "--different", "hubspot:contacts:7", "salesforce:leads:00Q7"]) == 0
    assert cli.main(["identity", "review", "--same", "salesforce:leads:00Q9", "hubspot:contacts:2"]) == 0
    merge_core(empty_warehouse, AS_OF)
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("delete from meta.identity_decision")
    merge_core(empty_warehouse, AS_OF)  # the 'same' edge without its decision: matched again, a tie
    assert not same(person_of(empty_warehouse), "salesforce:leads:00Q9", "hubspot:contacts:2")
    assert not same(person_of(empty_warehouse), "hubspot:contacts:7", "salesforce:leads:00Q7")
    result = merge_core(empty_warehouse, AS_OF, full=True)
    assert result["identity"]["changed"] == 5  # every record, not only those whose keys changed
    assert same(person_of(empty_warehouse), "hubspot:contacts:7", "salesforce:leads:00Q7")


def test_decisions_that_contradict_each_other_are_refused(empty_warehouse, capsys):
    tie(empty_warehouse)
    assert cli.main(["identity", "review", "--different", "hubspot:contacts:1", "salesforce:leads:00Q9"]) == 0
    assert cli.main(["identity", "review", "--same", "hubspot:contacts:2", "salesforce:leads:00Q9"]) == 0
    capsys.readouterr()
    assert cli.main(["identity", "review", "--same", "hubspot:contacts:1", "hubspot:contacts:2"]) == 2
    assert "were decided different" in capsys.readouterr().err
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from meta.identity_decision").scalar_one() == 2


def test_the_review_listing_cannot_be_made_to_run_a_command_or_fake_a_line(empty_warehouse, tmp_path, capsys):
    """A file-drop id with a shell substitution and a job title with a line break and an escape."""
    from smarketing.file_drops import load_drop

    drop = leads_drop(tmp_path, 'Lead ID;Vorname;Nachname;Firma;Titel\n'
                                'L50$(touch /tmp/pwned);Bob;Kern;Kern AG;"CFO\ndecide: fake\x1b[2J"\n',
                      "    columns: {Vorname: first_name, Nachname: last_name, Firma: company, Titel: job_title}\n")
    assert load_drop(empty_warehouse, drop, "run-1").rows_loaded == 1
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "robert.kern@kern.de", "Robert", "Kern", "Kern AG"),
                                             hs_contact("2", "robert.kern2@kern.de", "Robert", "Kern", "Kern AG")])
    assert len(review_rows(empty_warehouse)) == 2
    capsys.readouterr()
    assert cli.main(["identity", "review"]) == 0
    listed = capsys.readouterr().out
    assert "'file:leads:L50$(touch /tmp/pwned)'" in listed  # quoted for the shell
    assert "CFO\\u000adecide: fake\\u001b[2J" in listed
    assert "\x1b" not in listed and not any(line.startswith("decide: fake") for line in listed.splitlines())


def test_review_options_are_checked(empty_warehouse, capsys):
    tie(empty_warehouse)
    for argv in (["--limit", "-1"], ["--limit", "0"]):
        with pytest.raises(SystemExit):
            cli.main(["identity", "review", *argv])
    assert cli.main(["identity", "review", "--note", "forgot the decision"]) == 2
    assert cli.main(["identity", "review", "--by", " ", "--same", "hubspot:contacts:2", "salesforce:leads:00Q9"]) == 2


def test_a_file_lead_and_a_file_contact_are_two_sources(empty_warehouse):
    """One record per source per human counts a lead and a contact of one drop system apart."""
    def file_record(record_id, email, first, last, company):
        return RawRecord(record_id, T1, {"email": email, "first_name": first, "last_name": last, "company": company})

    load(empty_warehouse, file__leads=[file_record("L1", "bob.smith@gmail.com", "Bob", "Smith", "Acme Tools")],
         file__contacts=[file_record("C1", "robert.smith@acme-tools.com", "Robert", "Smith", "Acme Tools")])
    assert same(person_of(empty_warehouse), "file:leads:L1", "file:contacts:C1")


def test_names_that_the_english_nickname_list_relates_but_are_two_names_stay_apart(empty_warehouse):
    pairs = [("Emily", "Emil"), ("Polly", "Paul"), ("Hannah", "Anna"), ("Elena", "Helen")]
    load(empty_warehouse,
         hubspot__contacts=[hs_contact(str(n), f"{a.lower()}.berg@gmail.com", a, "Berg", "Nordwind")
                            for n, (a, _) in enumerate(pairs)],
         salesforce__leads=[sf_lead(f"00Q{n}", f"{b.lower()}.berg@nordwind.de", b, "Berg", "Nordwind")
                            for n, (_, b) in enumerate(pairs)])
    links = person_of(empty_warehouse)
    assert all(not same(links, f"hubspot:contacts:{n}", f"salesforce:leads:00Q{n}") for n in range(len(pairs)))


def test_a_placeholder_or_switchboard_number_is_no_evidence(empty_warehouse):
    switchboard = "+49 89 5000-0"
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "jon.miller@alpha.io", "Jon", "Miller", "Alpha", phone="000-000-0000"),
                            hs_contact("2", "chris.young@gmail.com", "Chris", "Young", None, phone=switchboard)],
         salesforce__leads=[sf_lead("00Q1", "john.miller@beta.io", "John", "Miller", "Beta", Phone="0000000000"),
                            *(sf_lead(f"00QS{n}", f"staff{n}@northwind.de", f"Staff{n}", "Other", "Northwind",
                                      Phone=switchboard) for n in range(6)),
                            sf_lead("00Q2", "c.young@northwind.de", "Christopher", "Young", "Northwind",
                                    Phone="089 5000 0")])
    links = person_of(empty_warehouse)
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert not same(links, "hubspot:contacts:2", "salesforce:leads:00Q2")


def test_a_percent_encoded_linkedin_profile_is_the_same_profile(empty_warehouse):
    """Only the profile ties J. Müller (no company) to Jürgen Müller: written percent-encoded in
    HubSpot and with its letters in a file drop."""
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "jm@gmx.de", "J.", "Müller", None,
                                       hs_linkedin_url="https://de.linkedin.com/in/j%C3%BCrgen-m%C3%BCller/")],
         file__leads=[RawRecord("L9", T1, {
             "email": "juergen.mueller@bau.de", "first_name": "Jürgen", "last_name": "Müller", "company": "Bau AG",
             "linkedin_url": "linkedin.com/in/Jürgen-Müller"})])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "file:leads:L9")


def test_one_mailbox_under_two_first_names_is_a_shared_mailbox_left_for_review(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "smith.family@gmail.com", "Alice", "Smith", None)],
         salesforce__leads=[sf_lead("00Q1", "SmithFamily@googlemail.com", "Bob", "Smith", None),
                            sf_lead("00Q2", "smith.family@gmail.com", "A.", "Smith", None)])
    links = person_of(empty_warehouse)
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q2")  # an initial fits
    assert [row[:3] for row in review_rows(empty_warehouse)] == [
        ("hubspot:contacts:1", "salesforce:leads:00Q1",
         "one mailbox under two first names that cannot be one: a shared mailbox?"),
        ("salesforce:leads:00Q1", "salesforce:leads:00Q2",
         "one mailbox under two first names that cannot be one: a shared mailbox?")]


def test_a_person_is_written_to_at_its_own_address_not_a_shared_one(empty_warehouse):
    """HubSpot, first for email in config/identity.yaml, holds only the office's info@."""
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "info@acme-sample.com", "Peter", "Schmidt", "Acme")],
         salesforce__leads=[sf_lead("00Q1", "peter.schmidt@gmail.com", "Peter", "Schmidt", "Acme")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select email from core.person where not is_deleted").scalars().all() == [
            "peter.schmidt@gmail.com"]
