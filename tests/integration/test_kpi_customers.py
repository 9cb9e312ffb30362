"""Who a customer is, from Salesforce records: one account whatever deal names it, never a deleted
person, and customers alike in every way alike in their RFM scores and segment."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.kpis import kpi_settings, refresh_marts
from smarketing.landing import land_page
from smarketing.sources.base import RawRecord
from tests.conftest import reset_warehouse

AS_OF = date(2026, 6, 30)
AT = datetime(2026, 3, 1, 9, tzinfo=UTC)


def sf_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def account(account_id: str, name: str) -> RawRecord:
    return RawRecord(account_id, AT, {
        "attributes": {"type": "Account"}, "Id": account_id, "Name": name,
        "Website": f"https://{name.split()[0].lower()}.example", "CreatedDate": sf_time(AT),
        "SystemModstamp": sf_time(AT), "IsDeleted": False})


def contact(contact_id: str, account_id: str | None, email: str, first: str, last: str,
            deleted: bool = False) -> RawRecord:
    at = datetime(2026, 6, 20, tzinfo=UTC) if deleted else AT
    return RawRecord(contact_id, at, {
        "attributes": {"type": "Contact"}, "Id": contact_id, "AccountId": account_id, "Email": email,
        "FirstName": first, "LastName": last, "HasOptedOutOfEmail": False, "LeadSource": "Web",
        "CreatedDate": sf_time(AT), "SystemModstamp": sf_time(at), "IsDeleted": deleted}, is_deleted=deleted)


def won_deal(opp_id: str, account_id: str | None, contact_id: str, closed: date, amount: float) -> RawRecord:
    at = datetime(closed.year, closed.month, closed.day, 15, tzinfo=UTC)
    return RawRecord(opp_id, at, {
        "attributes": {"type": "Opportunity"}, "Id": opp_id, "AccountId": account_id, "ContactId": contact_id,
        "Name": f"deal {opp_id}", "StageName": "Closed Won", "Amount": amount, "CurrencyIsoCode": "EUR",
        "Probability": 100, "CloseDate": closed.isoformat(), "IsClosed": True, "IsWon": True, "LeadSource": "Web",
        "CampaignId": None, "OwnerId": "005REP1", "CreatedDate": sf_time(AT), "SystemModstamp": sf_time(at),
        "IsDeleted": False})


@pytest.fixture(scope="module")
def customers(engine):
    reset_warehouse(engine)
    land_page(engine, "salesforce", "accounts", [account("001X", "Nordwind GmbH"), account("001Y", "Ostsee AG"),
                                                 account("001Z", "Südhang KG")], "customers", AT)
    land_page(engine, "salesforce", "contacts", [
        contact("003A", "001X", "anna@nordwind.example", "Anna", "Berg"),
        contact("003B", "001Y", "ben@ostsee.example", "Ben", "Roth"),
        contact("003C", "001Z", "cleo@suedhang.example", "Cleo", "Haas"),
        contact("003D", None, "dora@mail.example", "Dora", "Linde"),
    ], "customers", AT)
    land_page(engine, "salesforce", "opportunities", [
        won_deal("006A1", "001X", "003A", date(2026, 4, 10), 1000),
        won_deal("006A2", None, "003A", date(2026, 5, 10), 2000),  # the deal names no account; its person has one
        won_deal("006B", "001Y", "003B", date(2026, 6, 1), 700),   # Ben and Cleo: alike in every way
        won_deal("006C", "001Z", "003C", date(2026, 6, 1), 700),
        won_deal("006D", None, "003D", date(2026, 5, 20), 500),
    ], "customers", AT)
    # Dora's only record is deleted in Salesforce afterwards: her person leaves, and her deal counts nowhere
    land_page(engine, "salesforce", "contacts", [contact("003D", None, "dora@mail.example", "Dora", "Linde",
                                                        deleted=True)], "customers", datetime(2026, 6, 20, tzinfo=UTC))
    tasks.validate("customers", AS_OF)
    tasks.merge("customers", AS_OF)
    refresh_marts(engine, AS_OF, kpi_settings())
    with engine.connect() as conn:
        return {r["name"]: r for r in conn.execute(text(
            "select a.name, c.* from marts.customer_segments as c left join core.account as a using (account_id)"
        )).mappings()}


def test_a_deal_without_an_account_counts_for_its_persons_account(customers):
    assert customers["Nordwind GmbH"]["revenue"] == 3000 and customers["Nordwind GmbH"]["frequency"] == 2
    assert set(customers) == {"Nordwind GmbH", "Ostsee AG", "Südhang KG"}, "no second customer, no Dora"


def test_customers_alike_get_the_same_rfm_scores_and_segment(customers):
    """Worked out by hand: a score is the quintile where the group of equals begins, 1 + floor(5 x
    the share of customers below it), so ties share it and one-time buyers have frequency 1.
    Recency: Nordwind none below -> 1, Ostsee and Südhang 1/3 below -> 2. Frequency and monetary:
    Ostsee and Südhang none below -> 1, Nordwind 2/3 below -> 4."""
    scores = {name: (c["recency_score"], c["frequency_score"], c["monetary_score"], c["rfm_segment"])
              for name, c in customers.items()}
    assert scores == {"Nordwind GmbH": (1, 4, 4, "At risk"), "Ostsee AG": (2, 1, 1, "Hibernating"),
                      "Südhang KG": (2, 1, 1, "Hibernating")}
