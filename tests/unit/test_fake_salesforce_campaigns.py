"""The Salesforce fake's campaign calls (what a nurture push to a Salesforce campaign makes), over
real HTTP: create a campaign, add members through sObject Collections, remove them, and read them
back with SOQL, with Salesforce's errors for what Salesforce refuses."""

from datetime import UTC, datetime, timedelta

import pytest
import requests

from smarketing.config import ConnectionInfo
from smarketing.demo.fakes import FakeSalesforce, Fault
from smarketing.demo.world import Dataset
from smarketing.sources.http_client import RetryPolicy
from smarketing.sources.salesforce import SalesforceSource

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0, timeout=5.0)
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"


def stamp(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class Clock:
    """The fake's ``now``: a test moves it."""

    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


def lead(n, **fields):
    return {"attributes": {"type": "Lead"}, "Id": f"00Q{n:015d}", "LastName": f"Lead{n}", "Company": "Acme",
            "Email": f"lead{n}@example.com", "IsConverted": False, "HasOptedOutOfEmail": False,
            "CreatedDate": stamp(T0), "SystemModstamp": stamp(T0), "IsDeleted": False, **fields}


def contact(n, **fields):
    return {"attributes": {"type": "Contact"}, "Id": f"003{n:015d}", "LastName": f"Contact{n}",
            "Email": f"contact{n}@example.com", "HasOptedOutOfEmail": False,
            "CreatedDate": stamp(T0), "SystemModstamp": stamp(T0), "IsDeleted": False, **fields}


def member(campaign_id, **person):
    return {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign_id, **person}


class Api:
    """The org's REST API as a client sees it (a bearer token from the client credentials flow)."""

    def __init__(self, org):
        self.org = org
        token = requests.post(f"{org.url}/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": "key", "client_secret": "secret"}, timeout=5)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self.base = f"{org.url}/services/data/v62.0"

    def create(self, sobject, **fields):
        return self.session.post(f"{self.base}/sobjects/{sobject}", json=fields, timeout=5)

    def campaign(self, name, **fields):
        answer = self.create("Campaign", Name=name, **fields)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def add(self, records, all_or_none=False):
        return self.session.post(f"{self.base}/composite/sobjects", json={"allOrNone": all_or_none,
                                                                           "records": records}, timeout=5)

    def delete(self, ids, all_or_none=False):
        return self.session.delete(f"{self.base}/composite/sobjects", params={
            "ids": ",".join(ids), "allOrNone": str(all_or_none).lower()}, timeout=5)

    def query(self, soql, everything=False, batch=None):
        """Every page of the query, following nextRecordsUrl."""
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        answer = self.session.get(f"{self.base}/{'queryAll' if everything else 'query'}", params={"q": soql},
                                  headers=headers, timeout=5)
        pages = [answer]
        while answer.status_code == 200 and not answer.json()["done"]:
            answer = self.session.get(f"{self.org.url}{answer.json()['nextRecordsUrl']}", headers=headers, timeout=5)
            pages.append(answer)
        return pages

    def rows(self, soql, everything=False):
        pages = self.query(soql, everything)
        assert all(p.status_code == 200 for p in pages), pages[-1].text
        return [r for p in pages for r in p.json()["records"]]


@pytest.fixture
def org():
    fake = FakeSalesforce(client_id="key", client_secret="secret", now=Clock(T0))
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def api(org):
    return Api(org)


def codes(answer):
    assert answer.status_code == 200, answer.text
    return [[e["statusCode"] for e in r["errors"]] for r in answer.json()]


def extract(org, entity, since):
    source = SalesforceSource(ConnectionInfo("salesforce_default", org.url, login="key", password="secret",
                                             extra={"batch_size": 200}), entities=(entity,), policy=FAST)
    return [r for page in source.extract(entity, since) for r in page]


# --- Campaign --------------------------------------------------------------------------------
def test_a_campaign_created_through_the_api_is_found_by_a_name_with_quotes_and_extracted(org, api):
    name = 'Bob\'s "BBQ" \\ webinar and more'
    org.now.at = T0 + timedelta(hours=3)
    answer = api.create("Campaign", Name=name, Type="Webinar", Status="Planned", IsActive=True)
    assert answer.status_code == 201
    created = answer.json()
    assert created["success"] is True and created["errors"] == []
    assert created["id"].startswith("701") and len(created["id"]) == 18
    api.campaign("Bob")  # a namesake prefix, which an unescaped query would not tell apart

    soql_name = name.replace("\\", "\\\\").replace("'", "\\'")
    rows = api.rows(f"SELECT Id, Name, Type, IsActive, CreatedDate, SystemModstamp FROM Campaign "
                    f"WHERE Name = '{soql_name}' AND IsDeleted = false")
    assert [(r["Id"], r["Name"], r["Type"], r["IsActive"]) for r in rows] == [(created["id"], name, "Webinar", True)]
    assert rows[0]["CreatedDate"] == rows[0]["SystemModstamp"] == "2026-03-02T12:30:00.000+0000"
    # SOQL compares text case-insensitively
    assert [r["Id"] for r in api.rows(f"SELECT Id FROM Campaign WHERE Name = '{soql_name.upper()}'")] == [created["id"]]
    unescaped = api.query(f"SELECT Id FROM Campaign WHERE Name = '{name}'")[0]
    assert unescaped.status_code == 400 and unescaped.json()[0]["errorCode"] == "MALFORMED_QUERY"

    # the connector's next incremental extract sees it
    got = extract(org, "campaigns", since=T0 + timedelta(hours=1))
    assert created["id"] in {r.record_id for r in got}
    assert next(r for r in got if r.record_id == created["id"]).version_at == T0 + timedelta(hours=3)


def test_a_campaign_with_an_unknown_field_or_no_name_is_refused_and_not_created(org, api):
    unknown = api.create("Campaign", Name="Spring launch", Budget__c=10)
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    assert unknown.json()[0]["message"] == "No such column 'Budget__c' on sobject of type Campaign"
    nameless = api.create("Campaign", Type="Email")
    assert nameless.status_code == 400
    assert nameless.json() == [{"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING",
                                "fields": ["Name"]}]
    stamped = api.create("Campaign", Name="Spring launch", SystemModstamp=stamp(T0))
    assert stamped.status_code == 400 and stamped.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert api.rows("SELECT Id FROM Campaign", everything=True) == []


# --- CampaignMember: adding --------------------------------------------------------------------
def test_members_are_added_by_contact_and_by_lead_and_a_second_add_is_a_duplicate(org, api):
    org.put(contact(1))
    org.put(lead(1))
    org.put(lead(2))
    campaign = api.campaign("Nurture: onboarding")
    added = api.add([member(campaign, ContactId=contact(1)["Id"]),
                     member(campaign, LeadId=lead(1)["Id"], Status="Responded")])
    assert codes(added) == [[], []]
    assert all(r["success"] and r["id"].startswith("00v") for r in added.json())
    assert org.campaign_members("Nurture: onboarding") == {contact(1)["Id"], lead(1)["Id"]}

    again = api.add([member(campaign, ContactId=contact(1)["Id"]), member(campaign, LeadId=lead(2)["Id"])])
    assert codes(again) == [["DUPLICATE_VALUE"], []]
    refused = again.json()[0]
    assert refused["success"] is False and "id" not in refused
    assert refused["errors"] == [{"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.",
                                  "fields": []}]
    assert org.campaign_members("Nurture: onboarding") == {contact(1)["Id"], lead(1)["Id"], lead(2)["Id"]}
    rows = api.rows(f"SELECT Id, ContactId, LeadId, Status, HasResponded, FirstRespondedDate FROM CampaignMember "
                    f"WHERE CampaignId = '{campaign}' AND IsDeleted = false ORDER BY Id")
    assert len(rows) == 3
    by_person = {r["ContactId"] or r["LeadId"]: r for r in rows}
    assert [by_person[contact(1)["Id"]][k] for k in ("Status", "HasResponded", "FirstRespondedDate")] == [
        "Sent", False, None]
    assert [by_person[lead(1)["Id"]][k] for k in ("Status", "HasResponded", "FirstRespondedDate")] == [
        "Responded", True, "2026-03-02"]


def test_the_same_person_twice_in_one_request_is_added_once(org, api):
    org.put(contact(1))
    campaign = api.campaign("Nurture: trial")
    answer = api.add([member(campaign, ContactId=contact(1)["Id"]), member(campaign, ContactId=contact(1)["Id"])])
    assert codes(answer) == [[], ["DUPLICATE_VALUE"]]
    assert len(api.rows(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{campaign}'")) == 1


def test_all_or_none_rolls_back_every_record_when_one_fails(org, api):
    org.put(contact(1))
    org.put(contact(2))
    org.put(lead(1))
    campaign = api.campaign("Nurture: winback")
    assert codes(api.add([member(campaign, ContactId=contact(1)["Id"])])) == [[]]

    batch = [member(campaign, ContactId=contact(2)["Id"]), member(campaign, ContactId=contact(1)["Id"]),
             member(campaign, LeadId=lead(1)["Id"])]
    answer = api.add(batch, all_or_none=True)
    assert codes(answer) == [[ROLLED_BACK], ["DUPLICATE_VALUE"], [ROLLED_BACK]]
    assert all(r["success"] is False and "id" not in r for r in answer.json())
    assert answer.json()[0]["errors"][0]["message"] == (
        "Record rolled back because not all records were valid and the request was using AllOrNone header")
    assert org.campaign_members("Nurture: winback") == {contact(1)["Id"]}

    assert codes(api.add(batch, all_or_none=False)) == [[], ["DUPLICATE_VALUE"], []]
    assert org.campaign_members("Nurture: winback") == {contact(1)["Id"], contact(2)["Id"], lead(1)["Id"]}


def test_more_than_200_records_or_ids_are_refused_whole(org, api):
    for n in range(201):
        org.put(lead(n))
    campaign = api.campaign("Nurture: big")
    too_many = api.add([member(campaign, LeadId=lead(n)["Id"]) for n in range(201)])
    assert too_many.status_code == 400
    assert too_many.json() == [{"message": "record limit reached. cannot submit more than 200 records into this call",
                                "errorCode": "EXCEEDED_ID_LIMIT"}]
    assert org.campaign_members("Nurture: big") == set()

    answer = api.add([member(campaign, LeadId=lead(n)["Id"]) for n in range(200)])
    assert codes(answer) == [[]] * 200
    ids = [r["id"] for r in answer.json()]
    refused = api.delete([*ids, ids[0]])
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert len(org.campaign_members("Nurture: big")) == 200


def test_a_converted_lead_is_refused_and_its_contact_is_taken(org, api):
    org.put(lead(1))
    org.put(contact(1))
    campaign = api.campaign("Nurture: upsell")
    org.now.at = T0 + timedelta(days=1)
    org.convert_lead(lead(1)["Id"], contact(1)["Id"])
    converted = api.rows(f"SELECT IsConverted, ConvertedContactId, SystemModstamp FROM Lead "
                         f"WHERE Id = '{lead(1)['Id']}'")
    assert converted == [{"attributes": converted[0]["attributes"], "IsConverted": True,
                          "ConvertedContactId": contact(1)["Id"], "SystemModstamp": stamp(T0 + timedelta(days=1))}]

    answer = api.add([member(campaign, LeadId=lead(1)["Id"]), member(campaign, ContactId=contact(1)["Id"])])
    assert answer.json()[0]["errors"] == [{"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                           "message": "cannot reference converted lead", "fields": []}]
    assert codes(answer) == [["CANNOT_UPDATE_CONVERTED_LEAD"], []]
    assert org.campaign_members("Nurture: upsell") == {contact(1)["Id"]}


def test_a_lead_member_converted_later_counts_as_its_contact(org, api):
    org.put(lead(1))
    org.put(contact(1))
    campaign = api.campaign("Nurture: events")
    assert codes(api.add([member(campaign, LeadId=lead(1)["Id"])])) == [[]]
    org.convert_lead(lead(1)["Id"], contact(1)["Id"])
    assert org.campaign_members("Nurture: events") == {contact(1)["Id"]}
    assert codes(api.add([member(campaign, ContactId=contact(1)["Id"])])) == [["DUPLICATE_VALUE"]]


def test_members_that_name_no_one_or_a_missing_record_are_refused_with_salesforces_codes(org, api):
    org.put(contact(1))
    org.put(contact(2, IsDeleted=True))
    org.put(lead(1))
    campaign = api.campaign("Nurture: errors")
    deleted_campaign = api.campaign("Nurture: gone")
    assert codes(api.delete([deleted_campaign])) == [[]]
    answer = api.add([
        member(campaign),                                            # neither a contact nor a lead
        member(campaign, ContactId="003000000000000999"),            # no such contact
        member(campaign, ContactId=contact(2)["Id"]),                # a deleted contact
        member(campaign, LeadId="not-an-id"),                        # malformed
        member("701000000000000999", ContactId=contact(1)["Id"]),    # no such campaign
        member(deleted_campaign, ContactId=contact(1)["Id"]),        # a deleted campaign
        {"attributes": {"type": "CampaignMember"}, "ContactId": contact(1)["Id"]},  # no campaign
        member(campaign, ContactId=contact(1)["Id"], LeadId=lead(1)["Id"]),  # both: the contact only
    ])
    assert codes(answer) == [["REQUIRED_FIELD_MISSING"], ["INVALID_CROSS_REFERENCE_KEY"], ["ENTITY_IS_DELETED"],
                             ["MALFORMED_ID"], ["INVALID_CROSS_REFERENCE_KEY"], ["ENTITY_IS_DELETED"],
                             ["REQUIRED_FIELD_MISSING"], []]
    assert answer.json()[0]["errors"][0]["fields"] == ["ContactId", "LeadId"]
    assert answer.json()[3]["errors"][0] == {"statusCode": "MALFORMED_ID", "fields": ["LeadId"],
                                             "message": "Lead ID: id value of incorrect type: not-an-id"}
    assert answer.json()[6]["errors"][0]["fields"] == ["CampaignId"]
    rows = api.rows(f"SELECT ContactId, LeadId FROM CampaignMember WHERE CampaignId = '{campaign}'")
    assert [(r["ContactId"], r["LeadId"]) for r in rows] == [(contact(1)["Id"], None)]


def test_a_member_record_with_an_unknown_field_fails_the_whole_request(org, api):
    org.put(contact(1))
    org.put(contact(2))
    campaign = api.campaign("Nurture: schema")
    answer = api.add([member(campaign, ContactId=contact(1)["Id"]), member(campaign, ContactId=contact(2)["Id"],
                                                                           Score__c=3)])
    assert answer.status_code == 400
    assert answer.json()[0] == {"errorCode": "INVALID_FIELD",
                                "message": "No such column 'Score__c' on sobject of type CampaignMember"}
    assert org.campaign_members("Nurture: schema") == set()


# --- CampaignMember: removing ------------------------------------------------------------------
def test_a_delete_marks_the_member_deleted_for_query_all_and_a_second_delete_says_so(org, api):
    org.put(contact(1))
    org.put(contact(2))
    campaign = api.campaign("Nurture: churn")
    first, second = (r["id"] for r in api.add([member(campaign, ContactId=contact(1)["Id"]),
                                               member(campaign, ContactId=contact(2)["Id"])]).json())
    org.now.at = T0 + timedelta(hours=5)
    deleted = api.delete([first])
    assert deleted.json() == [{"id": first, "success": True, "errors": []}]
    assert org.campaign_members("Nurture: churn") == {contact(2)["Id"]}

    soql = f"SELECT Id, IsDeleted, SystemModstamp FROM CampaignMember WHERE CampaignId = '{campaign}' ORDER BY Id"
    assert [r["Id"] for r in api.rows(soql)] == [second]
    everything = api.rows(soql, everything=True)
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == sorted([(first, True), (second, False)])
    assert next(r for r in everything if r["Id"] == first)["SystemModstamp"] == stamp(T0 + timedelta(hours=5))
    # the connector's incremental extract sees the removal
    got = {r.record_id: r for r in extract(org, "campaign_members", since=T0 + timedelta(hours=1))}
    assert list(got) == [first] and got[first].is_deleted

    again = api.delete([first, "003000000000000999", "not-an-id"])
    assert again.json() == [
        {"id": first, "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted",
                                                    "fields": []}]},
        {"id": "003000000000000999", "success": False, "errors": [
            {"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": []}]},
        {"success": False, "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id not-an-id",
                                       "fields": []}]}]

    # a removed contact can join again: a new member record
    rejoined = api.add([member(campaign, ContactId=contact(1)["Id"])]).json()[0]
    assert rejoined["success"] and rejoined["id"] not in (first, second)
    assert org.campaign_members("Nurture: churn") == {contact(1)["Id"], contact(2)["Id"]}


def test_a_delete_with_all_or_none_removes_nothing_when_one_id_fails(org, api):
    org.put(contact(1))
    campaign = api.campaign("Nurture: careful")
    (kept,) = (r["id"] for r in api.add([member(campaign, ContactId=contact(1)["Id"])]).json())
    answer = api.delete([kept, "00v000000000000999"], all_or_none=True)
    assert codes(answer) == [[ROLLED_BACK], ["INVALID_CROSS_REFERENCE_KEY"]]
    assert answer.json()[0]["id"] == kept and answer.json()[0]["success"] is False
    assert org.campaign_members("Nurture: careful") == {contact(1)["Id"]}


def test_deleting_a_campaign_removes_its_members_with_it(org, api):
    org.put(contact(1))
    org.put(lead(1))
    campaign, other = api.campaign("Nurture: retired"), api.campaign("Nurture: running")
    assert codes(api.add([member(campaign, ContactId=contact(1)["Id"]), member(campaign, LeadId=lead(1)["Id"]),
                          member(other, ContactId=contact(1)["Id"])])) == [[], [], []]
    org.now.at = T0 + timedelta(hours=1)
    assert codes(api.delete([campaign])) == [[]]
    rows = api.rows("SELECT CampaignId, IsDeleted, SystemModstamp FROM CampaignMember", everything=True)
    assert sorted((r["CampaignId"] == campaign, r["IsDeleted"], r["SystemModstamp"]) for r in rows) == [
        (False, False, stamp(T0)), (True, True, stamp(T0 + timedelta(hours=1))),
        (True, True, stamp(T0 + timedelta(hours=1)))]
    assert org.campaign_members("Nurture: running") == {contact(1)["Id"]}
    with pytest.raises(KeyError):
        org.campaign_members("Nurture: retired")


# --- SOQL over many members ----------------------------------------------------------------------
def test_campaign_member_queries_page_and_filter_with_in(org, api):
    for n in range(450):
        org.put(lead(n))
    org.put(contact(1))
    campaign, other = api.campaign("Nurture: many"), api.campaign("Nurture: other")
    ids = []
    for start in (0, 200, 400):
        answer = api.add([member(campaign, LeadId=lead(n)["Id"], Status="Responded" if n % 3 == 0 else "Sent")
                          for n in range(start, min(start + 200, 450))])
        assert all(r["success"] for r in answer.json())
        ids += [r["id"] for r in answer.json()]
    assert codes(api.add([member(other, ContactId=contact(1)["Id"])])) == [[]]

    pages = api.query(f"SELECT Id, ContactId, LeadId, Status FROM CampaignMember WHERE CampaignId = '{campaign}' "
                      f"AND IsDeleted = false", batch=200)
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert [len(p.json()["records"]) for p in pages] == [200, 200, 50]
    assert {p.json()["totalSize"] for p in pages} == {450}
    rows = [r for p in pages for r in p.json()["records"]]
    assert sorted(r["Id"] for r in rows) == sorted(ids)
    assert {r["LeadId"] for r in rows} == {lead(n)["Id"] for n in range(450)}

    responded = api.rows(f"SELECT Id FROM CampaignMember WHERE CampaignId IN ('{campaign}', '{other}') "
                         f"AND Status IN ('responded', 'Other') AND IsDeleted = false")
    assert len(responded) == 150
    not_sent = api.rows("SELECT Id FROM CampaignMember WHERE Status NOT IN ('sent')")  # the other's member is Sent
    assert len(not_sent) == 150 and set(r["Id"] for r in not_sent) <= set(ids)
    both_campaigns = api.rows(f"SELECT Id FROM CampaignMember WHERE CampaignId IN ('{campaign}','{other}')")
    assert len(both_campaigns) == 451
    # ids compare exactly, not case-insensitively
    assert api.rows(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{campaign.lower()}'") == []


@pytest.mark.parametrize(("soql", "code"), [
    ("SELECT Id FROM CampaignMember WHERE Status = 'Sent' OR Status = 'Responded'", "MALFORMED_QUERY"),
    ("SELECT Id FROM CampaignMember WHERE Status = 'Sent", "MALFORMED_QUERY"),
    ("SELECT Id FROM CampaignMember WHERE Status = 'Se\\nt\\x'", "MALFORMED_QUERY"),
    ("SELECT Id FROM CampaignMember WHERE Score__c = 1", "INVALID_FIELD"),
    ("SELECT Id FROM CampaignMember WHERE Status IN ()", "MALFORMED_QUERY"),
])
def test_queries_the_fake_cannot_answer_fail_like_the_api(api, soql, code):
    answer = api.query(soql)[0]
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == code


# --- helpers, dataset, auth, limits, faults -------------------------------------------------------
def test_an_opt_out_bumps_system_modstamp_so_the_incremental_extract_sees_it(org):
    org.put(lead(1))
    org.put(contact(1))
    assert extract(org, "leads", since=T0 + timedelta(hours=1)) == []
    org.now.at = T0 + timedelta(hours=2)
    org.set_opt_out(lead(1)["Id"])
    org.set_opt_out(contact(1)["Id"])
    (got,) = extract(org, "leads", since=T0 + timedelta(hours=1))
    assert got.record_id == lead(1)["Id"] and got.payload["HasOptedOutOfEmail"] is True
    assert got.version_at == T0 + timedelta(hours=2)
    (contact_got,) = extract(org, "contacts", since=T0 + timedelta(hours=1))
    assert contact_got.payload["HasOptedOutOfEmail"] is True
    org.now.at = T0 + timedelta(hours=3)
    org.set_opt_out(contact(1)["Id"], flag=False)
    (back,) = extract(org, "contacts", since=T0 + timedelta(hours=3))
    assert back.payload["HasOptedOutOfEmail"] is False
    with pytest.raises(KeyError):
        org.set_opt_out("00Q000000000000999")


def test_dataset_members_count_and_api_writes_leave_the_dataset_as_it_was():
    data = Dataset()
    data.add("salesforce", "campaigns", "701000000000000001", T0, {
        "attributes": {"type": "Campaign"}, "Id": "701000000000000001", "Name": "Webinar: pipeline hygiene",
        "Type": "Webinar", "Status": "Completed", "IsActive": False, "ParentId": None,
        "CreatedDate": stamp(T0), "SystemModstamp": stamp(T0), "IsDeleted": False})
    for entity, payload in (("contacts", contact(1)), ("leads", lead(1, IsConverted=True,
                                                                      ConvertedContactId=contact(1)["Id"]))):
        data.add("salesforce", entity, payload["Id"], T0, payload)
    data.add("salesforce", "campaign_members", "00v000000000000001", T0, {
        "attributes": {"type": "CampaignMember"}, "Id": "00v000000000000001", "CampaignId": "701000000000000001",
        "LeadId": lead(1)["Id"], "ContactId": contact(1)["Id"], "Status": "Responded", "HasResponded": True,
        "FirstRespondedDate": "2026-03-02", "CreatedDate": stamp(T0), "SystemModstamp": stamp(T0),
        "IsDeleted": False})
    before = data.latest[("salesforce", "campaign_members", "00v000000000000001")].payload.copy()
    with FakeSalesforce(data, client_id="key", client_secret="secret", now=Clock(T0 + timedelta(days=1))) as org:
        api = Api(org)
        assert org.campaign_members("Webinar: pipeline hygiene") == {contact(1)["Id"]}
        assert codes(api.add([member("701000000000000001", ContactId=contact(1)["Id"])])) == [["DUPLICATE_VALUE"]]
        assert codes(api.delete(["00v000000000000001"])) == [[]]
        org.set_opt_out(contact(1)["Id"])
        assert org.campaign_members("Webinar: pipeline hygiene") == set()
    assert data.latest[("salesforce", "campaign_members", "00v000000000000001")].payload == before
    assert data.latest[("salesforce", "contacts", contact(1)["Id"])].payload["HasOptedOutOfEmail"] is False


def test_the_new_calls_need_a_valid_token(org, api):
    org.put(contact(1))
    campaign = api.campaign("Nurture: auth")
    (kept,) = (r["id"] for r in api.add([member(campaign, ContactId=contact(1)["Id"])]).json())
    base = f"{org.url}/services/data/v62.0"
    for bearer in ({}, {"Authorization": "Bearer forged"}):
        calls = [requests.post(f"{base}/sobjects/Campaign", json={"Name": "x"}, headers=bearer, timeout=5),
                 requests.post(f"{base}/composite/sobjects", json={"records": [member(campaign, LeadId="x")]},
                               headers=bearer, timeout=5),
                 requests.delete(f"{base}/composite/sobjects", params={"ids": kept}, headers=bearer, timeout=5)]
        assert [(c.status_code, c.json()[0]["errorCode"]) for c in calls] == [(401, "INVALID_SESSION_ID")] * 3
    org.expire_tokens()
    assert api.delete([kept]).status_code == 401
    assert org.campaign_members("Nurture: auth") == {contact(1)["Id"]}
    assert len(api.org.tables["Campaign"]) == 1


def test_the_new_calls_are_rate_limited_and_take_injected_faults():
    with FakeSalesforce(client_id="key", client_secret="secret", rate_limit=(4, 60.0)) as org:
        org.put(contact(1))
        api = Api(org)                                  # call 1 (token)
        campaign = api.campaign("Nurture: limits")      # call 2
        assert codes(api.add([member(campaign, ContactId=contact(1)["Id"])])) == [[]]  # call 3
        api.delete(["00v000000000000999"])              # call 4
        limited = api.add([member(campaign, ContactId=contact(1)["Id"])])
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json() == [{"message": "Too many requests", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        assert api.create("Campaign", Name="Another").status_code == 429
        assert len(org.tables["Campaign"]) == 1

    with FakeSalesforce(client_id="key", client_secret="secret") as org:
        org.put(contact(1))
        api = Api(org)
        campaign = api.campaign("Nurture: faults")
        org.inject(Fault(503, times=1, path="/services/data/v62.0/composite/sobjects"))
        failed = api.add([member(campaign, ContactId=contact(1)["Id"])])
        assert failed.status_code == 503
        assert org.campaign_members("Nurture: faults") == set()
        assert codes(api.add([member(campaign, ContactId=contact(1)["Id"])])) == [[]]
        org.inject(Fault(500, times=1, path="/services/data/v62.0/sobjects/Campaign"))
        assert api.create("Campaign", Name="Faulted").status_code == 500
        assert org.calls("/services/data/v62.0/composite/sobjects") == 2
