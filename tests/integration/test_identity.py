"""Identity resolution on hand-built records: one test per rule, stable ids, merges, history."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from smarketing.landing import land_page
from smarketing.sources.base import RawRecord
from smarketing.transform import merge_core
from tests.conftest import reset_warehouse

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
AS_OF = date(2026, 6, 30)


def sf_time(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def hs_contact(cid, email, first, last, company, at=T0, **props):
    return RawRecord(cid, at, {"id": cid, "properties": {
        "email": email, "firstname": first, "lastname": last, "company": company,
        "createdate": at.isoformat(), "lastmodifieddate": at.isoformat(), **props}, "archived": False})


def sf_lead(lid, email, first, last, company, at=T0, **fields):
    return RawRecord(lid, at, {"Id": lid, "Email": email, "FirstName": first, "LastName": last, "Company": company,
                               "CreatedDate": sf_time(at), "IsDeleted": False, **fields})


def sf_contact(cid, email, first, last, account=None, at=T0):
    return RawRecord(cid, at, {"Id": cid, "Email": email, "FirstName": first, "LastName": last, "AccountId": account,
                               "CreatedDate": sf_time(at), "IsDeleted": False})


def load(eng, **entities):
    """Land pages per '<source>__<entity>' and mark them validated (the suites are tested elsewhere)."""
    for name, records in entities.items():
        source, entity = name.split("__", 1)
        land_page(eng, source, entity, records, "test", max(r.version_at for r in records))
    with eng.begin() as conn:
        conn.exec_driver_sql("update meta.batches set validated_at = now() where validated_at is null")
    return merge_core(eng, AS_OF)


def person_of(eng):
    with eng.connect() as conn:
        rows = conn.execute(text("select source || ':' || entity || ':' || source_record_id, person_id, match_rule,"
                                 " match_score, matched_record from core.person_identity where is_active")).all()
    return {key: (person, rule, float(score), matched) for key, person, rule, score, matched in rows}


def same(links, a, b):
    return links[a][0] == links[b][0]


def test_case_and_whitespace_in_the_email_match(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", " Ada@Example.COM ", "Ada", "Lovelace", "Engines")],
         salesforce__leads=[sf_lead("00Q1", "ada@example.com", "Ada", "Lovelace", "Engines")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert links["salesforce:leads:00Q1"][1:] == ("email_exact", 1.0, "hubspot:contacts:1")


def test_plus_addressing_matches(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "ada+webinar@example.com", "Ada", "L", "X")],
         salesforce__leads=[sf_lead("00Q1", "ada@example.com", "Ada", "L", "X")])
    assert same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_a_converted_lead_and_its_contact_are_one_person_even_with_other_emails(empty_warehouse):
    load(empty_warehouse,
         salesforce__leads=[sf_lead("00Q1", "grace@old-job.com", "Grace", "Hopper", "Old Job",
                                    IsConverted=True, ConvertedContactId="0031")],
         salesforce__contacts=[sf_contact("0031", "grace@new-job.com", "Grace", "Hopper")])
    links = person_of(empty_warehouse)
    assert same(links, "salesforce:leads:00Q1", "salesforce:contacts:0031")
    assert links["salesforce:leads:00Q1"][1] == "crm_conversion"


def test_a_name_typo_at_the_same_company_matches(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "katherine.j@gmail.com", "Katherine", "Johnson", "Orbit Space")],
         salesforce__leads=[sf_lead("00Q1", "kjohnson@orbit.space", "Katherine", "Jonhson", "Orbit Space GmbH")])
    links = person_of(empty_warehouse)
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    # a typo (6 bits) at the same company (3)
    assert links["salesforce:leads:00Q1"][1:3] == ("fuzzy", 9.0)


def test_two_people_sharing_info_at_never_merge(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "info@acme.com", "Ann", "Ames", "Acme"),
                                             hs_contact("2", "info@acme.com", "Bob", "Burns", "Acme")],
         salesforce__leads=[sf_lead("00Q1", "INFO@acme.com", "Ann", "Ames", "Acme")])
    links = person_of(empty_warehouse)
    assert not same(links, "hubspot:contacts:1", "hubspot:contacts:2")
    assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert links["salesforce:leads:00Q1"][1] == "email_generic_same_name"


def test_the_same_name_at_different_companies_does_not_match(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "john.smith@gmail.com", "John", "Smith", "Acme")],
         salesforce__leads=[sf_lead("00Q1", "jsmith@globex.com", "John", "Smith", "Globex")])
    assert not same(person_of(empty_warehouse), "hubspot:contacts:1", "salesforce:leads:00Q1")


def test_a_record_without_a_company_is_weighed_against_one_at_a_company_whichever_arrives_later(empty_warehouse):
    """The name anywhere blocks pair a record without company or work domain with one that has them:
    a nickname (7 bits), the same title and city (1 each) reach min_score 9, whether the record
    without a company arrives after the other or was there first (a first load pairs both ways)."""
    robert = sf_lead("00Q1", "robert.oyelaran@oyelaran-works.com", "Robert", "Oyelaran", "Oyelaran Works",
                     Title="CFO", City="Nairobi")
    bob = hs_contact("1", "bob1980@gmail.com", "Bob", "Oyelaran", None, at=T0 + timedelta(days=1), jobtitle="CFO",
                     city="Nairobi")
    for first, then in (({"salesforce__leads": [robert]}, {"hubspot__contacts": [bob]}),
                        ({"hubspot__contacts": [bob]}, {"salesforce__leads": [robert]})):
        reset_warehouse(empty_warehouse)
        load(empty_warehouse, **first)
        load(empty_warehouse, **then)
        links = person_of(empty_warehouse)
        assert same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
        assert {links["hubspot:contacts:1"][1:3], links["salesforce:leads:00Q1"][1:3]} & {("fuzzy", 9.0)}


def test_two_work_mailboxes_of_one_company_are_two_people_even_through_a_personal_address(empty_warehouse):
    load(empty_warehouse, hubspot__contacts=[hs_contact("1", "nils.roth@gmail.com", "Nils", "Roth", "Delta Foods")],
         salesforce__leads=[sf_lead("00Q1", "nils.roth@deltafoods.eu", "Nils", "Roth", "Delta Foods"),
                            sf_lead("00Q2", "n.roth2@deltafoods.eu", "Nils", "Roth", "Delta Foods")])
    links = person_of(empty_warehouse)
    assert not same(links, "salesforce:leads:00Q1", "salesforce:leads:00Q2")
    # the personal address fits both equally well: ambiguous, so it stays on its own
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q1")
    assert not same(links, "hubspot:contacts:1", "salesforce:leads:00Q2")


def test_ids_are_stable_across_incremental_runs_and_merges_keep_history(empty_warehouse):
    first = load(empty_warehouse, hubspot__contacts=[hs_contact("1", "ada@example.com", "Ada", "L", "X")],
                 salesforce__contacts=[sf_contact("0031", "ada.l@example.org", "Ada", "L")])
    before = person_of(empty_warehouse)
    ada_hubspot, ada_salesforce = before["hubspot:contacts:1"][0], before["salesforce:contacts:0031"][0]
    assert ada_hubspot != ada_salesforce and first["identity"]["new_persons"] == 2

    # an unrelated record arrives: nobody's id moves, only the new record is compared
    second = load(empty_warehouse, hubspot__contacts=[hs_contact("2", "bob@example.com", "Bob", "B", "Y",
                                                                 at=T0 + timedelta(days=1))])
    after = person_of(empty_warehouse)
    assert after["hubspot:contacts:1"][0] == ada_hubspot and after["salesforce:contacts:0031"][0] == ada_salesforce
    assert second["identity"]["changed"] == 1

    # a converted lead links the two: the older id survives, the other points to it
    third = load(empty_warehouse, salesforce__leads=[sf_lead("00Q9", "ada@example.com", "Ada", "L", "X",
                                                             at=T0 + timedelta(days=2), IsConverted=True,
                                                             ConvertedContactId="0031")])
    merged = person_of(empty_warehouse)
    survivor, gone = min(ada_hubspot, ada_salesforce), max(ada_hubspot, ada_salesforce)
    assert {merged[k][0] for k in ("hubspot:contacts:1", "salesforce:contacts:0031", "salesforce:leads:00Q9")} == {
        survivor}
    assert third["identity"]["merged_persons"] == 1
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select merged_into_person_id from core.person where person_id = :p"),
                            {"p": gone}).scalar() == survivor
        history = conn.execute(text("select merged_person_id, surviving_person_id, match_rule from core.person_merge")
                               ).all()
    # the evidence is the merged person's own link: the HubSpot contact matched the lead's email,
    # the Salesforce contact was the lead's conversion
    expected_rule = "email_exact" if gone == ada_hubspot else "crm_conversion"
    assert [tuple(h) for h in history] == [(gone, survivor, expected_rule)]

    # rerunning with nothing new changes nothing
    assert merge_core(empty_warehouse, AS_OF)["identity"]["changed"] == 0


def test_lifecycle_and_stage_history_are_scd2_in_business_time(empty_warehouse):
    load(empty_warehouse,
         hubspot__contacts=[hs_contact("1", "ada@example.com", "Ada", "L", "X", at=T0,
                                       hs_lifecyclestage_marketingqualifiedlead_date=(T0 + timedelta(days=2))
                                       .isoformat())],
         salesforce__leads=[sf_lead("00Q1", "ada@example.com", "Ada", "L", "X", at=T0 + timedelta(days=3),
                                    IsConverted=True, ConvertedContactId="0031", ConvertedDate="2026-03-10")],
         salesforce__contacts=[sf_contact("0031", "ada@example.com", "Ada", "L", at=T0 + timedelta(days=9))],
         salesforce__opportunities=[RawRecord("0061", T0 + timedelta(days=30), {
             "Id": "0061", "ContactId": "0031", "Name": "Deal", "StageName": "Closed Won", "Amount": 900,
             "CloseDate": "2026-03-31", "IsClosed": True, "IsWon": True, "CreatedDate": sf_time(T0 + timedelta(days=9)),
             "IsDeleted": False})],
         salesforce__opportunity_history=[
             RawRecord("h1", T0 + timedelta(days=9), {"OpportunityId": "0061", "StageName": "Qualification",
                                                      "Amount": 1000, "CreatedDate": sf_time(T0 + timedelta(days=9))}),
             RawRecord("h2", T0 + timedelta(days=20), {"OpportunityId": "0061", "StageName": "Negotiation/Review",
                                                       "Amount": 900, "CreatedDate": sf_time(T0 + timedelta(days=20))}),
             RawRecord("h3", T0 + timedelta(days=30), {"OpportunityId": "0061", "StageName": "Closed Won",
                                                       "Amount": 900, "CreatedDate": sf_time(T0 + timedelta(days=30))}),
         ])
    with empty_warehouse.connect() as conn:
        lifecycle = conn.execute(text("select lifecycle_stage, valid_from, valid_to, is_current"
                                      " from core.person_lifecycle_history order by valid_from")).all()
        stages = conn.execute(text("select stage_name, amount, entered_at, exited_at, is_current"
                                   " from core.opportunity_stage_history order by entered_at")).all()
        snapshot = conn.execute(text("select snapshot_date, stage_name, amount from core.opportunity_daily"
                                     " order by snapshot_date")).all()
    d = lambda n: T0 + timedelta(days=n)  # noqa: E731
    assert [tuple(r) for r in lifecycle] == [
        ("lead", d(0), d(2), False),
        ("mql", d(2), datetime(2026, 3, 10, tzinfo=UTC), False),
        ("sql", datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 10, 9, tzinfo=UTC), False),
        ("opportunity", datetime(2026, 3, 10, 9, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC), False),
        ("customer", datetime(2026, 3, 31, tzinfo=UTC), None, True),
    ]
    assert [tuple(r) for r in stages] == [
        ("Qualification", 1000, d(9), d(20), False),
        ("Negotiation/Review", 900, d(20), d(30), False),
        ("Closed Won", 900, d(30), None, True),
    ]
    # the deal was open at the end of February? no (created 10 March); open at the end of March? no (won 31 March)
    assert snapshot == []


@pytest.mark.parametrize(("profile", "scale", "records"), [("default", 1, 200), ("hard", 0.5, 800)])
def test_identity_score_meets_its_targets_on_both_profiles(empty_warehouse, profile, scale, records):
    """A guard, not the measurement (make identity-score): the issue's targets at 10,000 people
    are precision 0.995 and recall 0.97 on the hard profile."""
    from smarketing.identity_score import score

    result = score(empty_warehouse, scale=scale, profile=profile)
    assert result.precision >= 0.99 and result.recall >= 0.97
    assert result.records > records


def test_an_incremental_run_and_a_full_rebuild_give_the_same_persons(engine, demo_dataset):
    """Land the demo data in two halves with a merge after each, then all at once: same partition and
    the same person attributes."""
    from tests.conftest import reset_warehouse

    cutoff = datetime(2026, 1, 1, tzinfo=UTC)

    def land_all(eng, keep):
        for (system, entity), records in demo_dataset.records.items():
            latest = {}
            for r in records:
                if keep(r):
                    latest[r.record_id] = r
            if latest:
                land_page(eng, system, entity, sorted(latest.values(), key=lambda r: r.version_at), "t", cutoff)
        with eng.begin() as conn:
            conn.exec_driver_sql("update meta.batches set validated_at = now() where validated_at is null")
            conn.exec_driver_sql("delete from raw.hubspot__contacts where payload->'properties'->>'email'"
                                 " in ('not-an-email', 'broken@@example')")  # what the suite would quarantine
        merge_core(eng, AS_OF)

    def snapshot(eng):
        with eng.connect() as conn:
            rows = conn.execute(text(
                "select string_agg(i.source || ':' || i.entity || ':' || i.source_record_id, ','"
                " order by i.source, i.entity, i.source_record_id),"
                " p.email, p.first_name, p.last_name, p.lead_created_at, p.mql_at, p.sql_at, p.customer_at,"
                " p.lifecycle_stage, p.has_email_opt_out"
                " from core.person p join core.person_identity i on i.person_id = p.person_id and i.is_active"
                " group by p.person_id")).all()
        return sorted(tuple(r) for r in rows)

    reset_warehouse(engine)
    land_all(engine, lambda r: r.version_at < cutoff)
    land_all(engine, lambda r: True)
    incremental = snapshot(engine)

    reset_warehouse(engine)
    land_all(engine, lambda r: True)
    assert snapshot(engine) == incremental
    assert len(incremental) > 100
