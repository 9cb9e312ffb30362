"""The HubSpot and Salesforce connectors over real HTTP against the API fakes (no warehouse:
landing through them is in tests/integration/test_connector_landing.py)."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from smarketing.config import ConnectionInfo
from smarketing.demo.fakes import FakeHubSpot, Fault
from smarketing.sources.base import SourceError
from smarketing.sources.http_client import AuthError, BudgetExceeded, CallBudget, RetriesExhausted, RetryPolicy
from smarketing.sources.hubspot import HubSpotSource
from smarketing.sources.salesforce import SalesforceSource

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=5.0, timeout=5.0)


def iso(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hs_contact(n, modified, **props):
    return {"id": str(1000 + n), "properties": {"email": f"person{n}@example.com", "createdate": iso(T0),
                                                 "lastmodifieddate": iso(modified), **props},
            "createdAt": iso(T0), "updatedAt": iso(modified), "archived": False}


def sf_lead(n, modified, **fields):
    return {"attributes": {"type": "Lead"}, "Id": f"00Q{n:015d}", "Email": f"lead{n}@example.com",
            "LastName": f"Lead{n}", "Company": "Acme", "CreatedDate": modified.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "SystemModstamp": modified.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "IsDeleted": False, **fields}


@pytest.fixture
def hubspot():
    fake = FakeHubSpot(token="t0ken")
    fake.start()
    yield fake
    fake.stop()


def hubspot_source(fake, sleeps=None, token="t0ken", **extra):
    conn = ConnectionInfo("hubspot_default", fake.url, password=token, extra={"page_size": 100, **extra})
    source = HubSpotSource(conn, entities=("contacts",), policy=FAST, now=T0 + timedelta(days=10))
    source.client.sleep = (sleeps.append if sleeps is not None else lambda _: None)
    return source


def salesforce_source(fake, sleeps=None, **kwargs):
    conn = ConnectionInfo("salesforce_default", fake.url, login="key", password="secret",
                          extra={"batch_size": 200})
    source = SalesforceSource(conn, entities=("leads",), policy=FAST, **kwargs)
    source.client.sleep = (sleeps.append if sleeps is not None else lambda _: None)
    return source


def records(source, entity, since=None):
    return [r for page in source.extract(entity, since) for r in page]


# --- HubSpot -------------------------------------------------------------------------------------
def test_hubspot_pages_through_every_contact_in_modification_order(hubspot):
    for n in range(1050):
        hubspot.put("contacts", hs_contact(n, T0 + timedelta(minutes=n)))
    got = records(hubspot_source(hubspot), "contacts")
    assert [r.record_id for r in got] == [str(1000 + n) for n in range(1050)]
    assert hubspot.calls("/crm/v3/objects/contacts/search") == 11


def test_hubspot_rewindows_at_the_10000_result_cap_and_skips_nothing(hubspot):
    total = 10_450
    for n in range(total):
        hubspot.put("contacts", hs_contact(n, T0 + timedelta(seconds=n // 3)))  # three records share each second
    source = hubspot_source(hubspot, page_size=200)
    got = records(source, "contacts")
    # a request paging past the cap gets HTTP 400 from the fake, which would have raised
    assert {r.record_id for r in got} == {str(1000 + n) for n in range(total)}
    assert all(a.version_at <= b.version_at for a, b in pairwise(got))
    assert len(got) - total <= 3, "only the records sharing the boundary second are read twice"


def test_hubspot_says_so_when_more_than_the_cap_share_one_timestamp(hubspot):
    hubspot.search_cap = 300
    for n in range(450):
        hubspot.put("contacts", hs_contact(n, T0))
    with pytest.raises(SourceError, match="more than 300 records share lastmodifieddate"):
        records(hubspot_source(hubspot, search_cap=300), "contacts", since=T0)


def test_hubspot_archived_contacts_arrive_as_deletions(hubspot):
    hubspot.put("contacts", hs_contact(1, T0))
    gone = hs_contact(2, T0)
    hubspot.put("contacts", {**gone, "archived": True, "archivedAt": iso(T0 + timedelta(days=2))})
    got = {r.record_id: r for r in records(hubspot_source(hubspot), "contacts")}
    assert got["1001"].is_deleted is False
    assert got["1002"].is_deleted is True and got["1002"].version_at == T0 + timedelta(days=2)


def test_hubspot_honours_retry_after_on_429(hubspot):
    hubspot.put("contacts", hs_contact(1, T0))
    hubspot.inject(Fault(429, times=2, path="/crm/v3/objects/contacts/search", headers={"Retry-After": "3"}))
    sleeps = []
    assert [r.record_id for r in records(hubspot_source(hubspot, sleeps), "contacts")] == ["1001"]
    assert sleeps == [3.0, 3.0]


def test_hubspot_retries_5xx_and_truncated_json_then_succeeds(hubspot):
    hubspot.put("contacts", hs_contact(1, T0))
    hubspot.inject(Fault(503, times=1, path="/crm/v3/objects/contacts/search"))
    hubspot.inject(Fault(200, times=1, path="/crm/v3/objects/contacts/search", body='{"results": [{"id": "10'))
    sleeps = []
    assert len(records(hubspot_source(hubspot, sleeps), "contacts")) == 1
    assert len(sleeps) == 2


def test_hubspot_gives_up_after_the_last_retry_with_a_clear_message(hubspot):
    hubspot.inject(Fault(500, times=99, path="/crm/v3/objects/contacts/search"))
    with pytest.raises(RetriesExhausted, match=r"hubspot POST /crm/v3/objects/contacts/search.*4 attempts.*HTTP 500"):
        records(hubspot_source(hubspot), "contacts")
    assert hubspot.calls("/crm/v3/objects/contacts/search") == 4


def test_hubspot_bad_token_fails_fast_naming_the_connection(hubspot):
    with pytest.raises(AuthError, match="connection 'hubspot_default'.*AIRFLOW_CONN_HUBSPOT_DEFAULT") as err:
        records(hubspot_source(hubspot, token="wrong"), "contacts")
    assert "wrong" not in str(err.value)
    assert hubspot.calls() == 1


def test_hubspot_call_budget_stops_the_run(hubspot):
    for n in range(500):
        hubspot.put("contacts", hs_contact(n, T0 + timedelta(minutes=n)))
    source = hubspot_source(hubspot)
    source.budget = source.client.budget = CallBudget(3)
    with pytest.raises(BudgetExceeded, match="budget of 3 calls"):
        records(source, "contacts")
    assert hubspot.calls() == 3


def test_hubspot_deals_carry_their_stage_history(hubspot):
    history = [{"value": "closedwon", "timestamp": iso(T0 + timedelta(days=9))},
               {"value": "appointmentscheduled", "timestamp": iso(T0)}]
    hubspot.put("deals", {"id": "77", "properties": {"dealname": "Big", "dealstage": "closedwon",
                                                     "hs_lastmodifieddate": iso(T0 + timedelta(days=9))},
                          "propertiesWithHistory": {"dealstage": history}, "archived": False})
    conn = ConnectionInfo("hubspot_default", hubspot.url, password="t0ken")
    deal = records(HubSpotSource(conn, entities=("deals",), policy=FAST), "deals")[0]
    assert deal.payload["propertiesWithHistory"]["dealstage"] == history


def test_hubspot_line_items_without_the_scope_are_one_warning_not_a_failure(hubspot, caplog):
    """A portal's token without the products scope answers 403 on line items: the other entities
    are still read."""
    hubspot.inject(Fault(403, times=5, path="/crm/v3/objects/line_items/search",
                         body='{"status": "error", "category": "MISSING_SCOPES", "message": "missing scopes"}'))
    hubspot.put("contacts", hs_contact(1, T0))
    source = hubspot_source(hubspot)
    with caplog.at_level("WARNING", logger="smarketing.sources.hubspot"):
        assert records(source, "line_items") == []
    assert [r.record_id for r in records(source, "contacts")] == ["1001"]
    assert ["line items are not read" in r.getMessage() for r in caplog.records] == [True]


def test_hubspot_email_events_come_oldest_first_across_windows(hubspot):
    hubspot.events = [{"id": f"e{n}", "type": "OPEN", "recipient": "a@b.co",
                       "created": int((T0 + timedelta(days=n)).timestamp() * 1000)} for n in range(9, -1, -1)]
    conn = ConnectionInfo("hubspot_default", hubspot.url, password="t0ken", extra={"events_window_days": 3})
    source = HubSpotSource(conn, entities=("email_events",), policy=FAST, now=T0 + timedelta(days=10))
    got = records(source, "email_events", since=T0)
    assert list(dict.fromkeys(r.record_id for r in got)) == [f"e{n}" for n in range(10)]
    assert all(a.version_at <= b.version_at for a, b in pairwise(got))
    assert hubspot.calls("/email/public/v1/events") == 4  # windows of 3 days over 10 days


# --- Salesforce ----------------------------------------------------------------------------------
def test_salesforce_follows_next_records_url_until_done(salesforce):
    for n in range(450):
        salesforce.put(sf_lead(n, T0 + timedelta(minutes=n)))
    source = salesforce_source(salesforce)
    pages = list(source.extract("leads", None))
    assert [len(p) for p in pages] == [200, 200, 50]
    assert [r.record_id for p in pages for r in p] == [f"00Q{n:015d}" for n in range(450)]
    assert salesforce.calls("/services/oauth2/token") == 1


def test_salesforce_query_all_brings_deleted_rows(salesforce):
    salesforce.put(sf_lead(1, T0))
    salesforce.put(sf_lead(2, T0 + timedelta(hours=1), IsDeleted=True))
    got = records(salesforce_source(salesforce), "leads")
    assert [(r.record_id, r.is_deleted) for r in got] == [("00Q000000000000001", False), ("00Q000000000000002", True)]


def test_salesforce_bookmark_is_inclusive(salesforce):
    for n in range(5):
        salesforce.put(sf_lead(n, T0 + timedelta(hours=n)))
    got = records(salesforce_source(salesforce), "leads", since=T0 + timedelta(hours=2))
    assert [r.record_id[-1] for r in got] == ["2", "3", "4"]


def test_salesforce_refreshes_an_expired_session_mid_sequence(salesforce):
    for n in range(450):
        salesforce.put(sf_lead(n, T0 + timedelta(minutes=n)))
    source = salesforce_source(salesforce)
    pages = source.extract("leads", None)
    first = next(pages)
    salesforce.expire_tokens()
    rest = [r for page in pages for r in page]
    assert len(first) + len(rest) == 450
    assert salesforce.calls("/services/oauth2/token") == 2


def test_salesforce_wrong_secret_fails_fast_naming_the_connection(salesforce):
    conn = ConnectionInfo("salesforce_default", salesforce.url, login="key", password="nope")
    with pytest.raises(AuthError, match="connection 'salesforce_default'.*invalid client credentials"):
        records(SalesforceSource(conn, entities=("leads",), policy=FAST), "leads")


def test_salesforce_custom_fields_are_read_and_kept_in_the_payload(salesforce):
    salesforce.put(sf_lead(1, T0, Industry__c="Robotics"))
    got = records(salesforce_source(salesforce, extra_fields={"leads": ["Industry__c"]}), "leads")
    assert got[0].payload["Industry__c"] == "Robotics"
    with pytest.raises(SourceError, match="plain field name"):
        salesforce_source(salesforce, extra_fields={"leads": ["Name; DELETE"]})


def sf_opportunity(n, modified, **fields):
    stamp = modified.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {"attributes": {"type": "Opportunity"}, "Id": f"006{n:015d}", "Name": f"Deal {n}",
            "StageName": "Prospecting", "Amount": 1000 * n, "CloseDate": "2026-03-31", "IsClosed": False,
            "IsWon": False, "CreatedDate": stamp, "SystemModstamp": stamp, "IsDeleted": False, **fields}


def test_salesforce_reads_only_the_fields_the_org_has_and_warns_once(caplog):
    """An org without multi-currency and without the configured custom field: the query asks for
    neither (the real API fails the whole query with INVALID_FIELD), one warning names both."""
    from smarketing.demo.fakes import FakeSalesforce

    with FakeSalesforce(client_id="key", client_secret="secret", multi_currency=False) as org:
        org.put(sf_opportunity(1, T0))
        org.put(sf_opportunity(2, T0 + timedelta(hours=1)))
        source = salesforce_source(org, extra_fields={"opportunities": ["Product_Line__c"]})
        source.batch_size = 1  # (the fake pages at 200 at least; one describe for every page regardless)
        with caplog.at_level("WARNING", logger="smarketing.sources.salesforce"):
            got = records(source, "opportunities")
            again = records(source, "opportunities")
        assert [r.payload["Amount"] for r in got] == [1000, 2000] == [r.payload["Amount"] for r in again]
        assert "CurrencyIsoCode" not in got[0].payload
        assert source.missing_fields == {"opportunities": ["CurrencyIsoCode", "Product_Line__c"]}
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1
        assert "Opportunity" in warnings[0] and "CurrencyIsoCode" in warnings[0] and "Product_Line__c" in warnings[0]
        assert org.calls("/services/data/v62.0/sobjects/Opportunity/describe") == 1


def test_the_salesforce_fake_rejects_a_field_the_org_lacks_like_the_real_api():
    import requests

    from smarketing.demo.fakes import FakeSalesforce

    with FakeSalesforce(client_id="key", client_secret="secret", multi_currency=False) as org:
        token = requests.post(f"{org.url}/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": "key", "client_secret": "secret"}).json()["access_token"]
        answer = requests.get(f"{org.url}/services/data/v62.0/queryAll", headers={"Authorization": f"Bearer {token}"},
                              params={"q": "SELECT Id, CurrencyIsoCode FROM Opportunity"})
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_FIELD"
        with pytest.raises(ValueError, match="CurrencyIsoCode"):
            org.put(sf_opportunity(1, T0, CurrencyIsoCode="EUR"))


def test_salesforce_a_custom_field_deleted_between_runs_does_not_break_the_sync():
    from smarketing.demo.fakes import FakeSalesforce

    with FakeSalesforce(client_id="key", client_secret="secret") as org:
        org.put(sf_opportunity(1, T0, Product_Line__c="Analytics"))
        first = records(salesforce_source(org, extra_fields={"opportunities": ["Product_Line__c"]}), "opportunities")
        org.remove_field("Opportunity", "Product_Line__c")
        second_source = salesforce_source(org, extra_fields={"opportunities": ["Product_Line__c"]})
        second = records(second_source, "opportunities")
    assert first[0].payload["Product_Line__c"] == "Analytics" and "Product_Line__c" not in second[0].payload
    assert second_source.missing_fields == {"opportunities": ["Product_Line__c"]}


def test_salesforce_users_name_the_owners():
    from smarketing.demo.fakes import FakeSalesforce

    with FakeSalesforce(client_id="key", client_secret="secret") as org:
        stamp = T0.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        org.put({"attributes": {"type": "User"}, "Id": "005W00000000001", "FirstName": "Åsa", "LastName": "Lindqvist",
                 "Name": "Åsa Lindqvist", "Email": "asa@vendor.example", "IsActive": True, "CreatedDate": stamp,
                 "SystemModstamp": stamp})
        source = salesforce_source(org)
        got = records(source, "users")
    assert [(r.record_id, r.payload["Name"], r.is_deleted) for r in got] == [
        ("005W00000000001", "Åsa Lindqvist", False)]
    assert source.missing_fields == {}


def _rsa_pair():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_salesforce_jwt_bearer_and_refresh_token_flows(salesforce, tmp_path):
    private, public = _rsa_pair()
    salesforce.jwt_public_key, salesforce.usernames = public, {"etl@acme.example"}
    salesforce.refresh_tokens = {"5Aep861-refresh"}
    salesforce.put(sf_lead(1, T0))
    (tmp_path / "key.pem").write_text(private)
    connections = {
        "jwt": ConnectionInfo("sf_jwt", salesforce.url, login="key",
                              extra={"private_key": private, "username": "etl@acme.example"}),
        "jwt file": ConnectionInfo("sf_jwt", salesforce.url, login="key",
                                   extra={"private_key_file": str(tmp_path / "key.pem"),
                                          "username": "etl@acme.example"}),
        "refresh": ConnectionInfo("sf_refresh", salesforce.url, login="key", password="secret",
                                  extra={"refresh_token": "5Aep861-refresh"}),
    }
    for conn in connections.values():
        assert [r.record_id for r in records(SalesforceSource(conn, entities=("leads",), policy=FAST), "leads")] \
            == ["00Q000000000000001"]
    other_private, _ = _rsa_pair()
    refused = {
        "JWT bearer": ConnectionInfo("sf_jwt", salesforce.url, login="key",
                                     extra={"private_key": other_private, "username": "etl@acme.example"}),
        "refresh token": ConnectionInfo("sf_refresh", salesforce.url, login="key", password="secret",
                                        extra={"refresh_token": "revoked"}),
    }
    before = salesforce.calls("/services/oauth2/token")
    for flow, conn in refused.items():
        with pytest.raises(AuthError, match=f"refused the {flow} grant of connection '{conn.conn_id}'"):
            records(SalesforceSource(conn, entities=("leads",), policy=FAST), "leads")
    assert salesforce.calls("/services/oauth2/token") - before == 2, "a refused grant is not retried"


def test_salesforce_exchange_rates_of_a_multi_currency_org_and_none_without(caplog):
    from smarketing.demo.fakes import FakeSalesforce

    stamp = T0.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    with FakeSalesforce(client_id="key", client_secret="secret") as org:
        org.put({"attributes": {"type": "DatedConversionRate"}, "Id": "04w000000000001", "IsoCode": "CHF",
                 "ConversionRate": 0.94, "StartDate": "2026-01-01", "NextStartDate": None, "SystemModstamp": stamp})
        rates = records(salesforce_source(org), "dated_conversion_rates")
    assert [(r.payload["IsoCode"], r.payload["ConversionRate"]) for r in rates] == [("CHF", 0.94)]
    with FakeSalesforce(client_id="key", client_secret="secret", multi_currency=False) as org, \
            caplog.at_level("WARNING", logger="smarketing.sources.salesforce"):
        source = salesforce_source(org)
        assert records(source, "currency_types") == [] == records(source, "dated_conversion_rates")
        assert org.calls("/services/data/v62.0/queryAll") == 0
    assert [r.getMessage() for r in caplog.records] == [
        "Salesforce: this org has no CurrencyType (multi-currency is off): currency_types is not read",
        "Salesforce: this org has no DatedConversionRate (multi-currency is off): dated_conversion_rates is not read"]


# --- HubSpot consent, forms and campaigns, from the demo dataset ---------------------------------
@pytest.fixture(scope="module")
def demo_hubspot():
    from smarketing.demo.world import generate

    dataset = generate(seed=11, people=60)
    fake = FakeHubSpot(dataset, token="t0ken")
    fake.start()
    yield fake, dataset
    fake.stop()


def demo_source(fake, entity):
    conn = ConnectionInfo("hubspot_default", fake.url, password="t0ken")
    return HubSpotSource(conn, entities=(entity,), policy=FAST, now=datetime(2026, 7, 1, tzinfo=UTC))


def test_subscription_statuses_carry_status_and_legal_basis_per_contact(demo_hubspot):
    fake, dataset = demo_hubspot
    got = {r.record_id: r.payload for r in records(demo_source(fake, "subscription_statuses"), "subscription_statuses")}
    expected = {r.record_id: r.payload for r in dataset.records[("hubspot", "subscription_statuses")]}
    assert got.keys() == expected.keys()
    for contact_id, payload in expected.items():
        assert got[contact_id]["subscriptionStatuses"] == payload["subscriptionStatuses"]
    assert fake.calls("/communication-preferences/v3/status/email/") == len(expected)
    opted_out = {r.record_id for r in dataset.records[("hubspot", "contacts")]
                 if r.payload["properties"].get("hs_email_optout") == "true"}
    assert opted_out and all(got[c]["subscriptionStatuses"][0]["status"] == "NOT_SUBSCRIBED" for c in opted_out)


def test_form_submissions_since_the_cursor_only_oldest_first(demo_hubspot):
    fake, dataset = demo_hubspot
    submissions = sorted(dataset.records[("hubspot", "form_submissions")], key=lambda r: r.version_at)
    since = submissions[len(submissions) // 2].version_at
    got = records(demo_source(fake, "form_submissions"), "form_submissions", since=since)
    assert {r.record_id for r in got} == {r.record_id for r in submissions if r.version_at >= since}
    assert all(r.payload["values"][0]["name"] == "email" for r in got)


def test_email_campaigns_with_their_details(demo_hubspot):
    fake, dataset = demo_hubspot
    got = records(demo_source(fake, "campaigns"), "campaigns")
    assert [(r.record_id, r.payload["name"]) for r in got] == [
        (r.record_id, r.payload["name"]) for r in dataset.records[("hubspot", "campaigns")]]
