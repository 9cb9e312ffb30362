"""Salesforce's own exchange rates, from an org with advanced currency management, tried from the
API through the whole pipeline. Worked out by hand.

The org's corporate currency is EUR. Dated rates (units per 1 EUR): USD 1.10 until 31 May 2026,
1.25 from 1 June; GBP 0.80 all year. Its currency table (used only without a dated rate): USD
1.20, GBP 0.85.

| opportunity | amount    | closes | in EUR                | in GBP                       |
|-------------|-----------|--------|-----------------------|------------------------------|
| O-1         | 1,100 USD | 05-15  | 1,100 / 1.10 = 1,000  | 1,100 x 0.80 / 1.10 = 800     |
| O-2         | 1,250 USD | 06-10  | 1,250 / 1.25 = 1,000  | 1,250 x 0.80 / 1.25 = 800     |
| O-3         |   500 EUR | 06-12  | 500                   | 500 x 0.80 = 400              |
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.config import PATHS
from smarketing.demo.fakes import FakeSalesforce, connection_env
from smarketing.demo.fakes.hubspot import FakeHubSpot
from tests.fixtures import nurture_without

AS_OF = date(2026, 6, 30)
T = datetime(2026, 1, 2, 9, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def org() -> FakeSalesforce:
    fake = FakeSalesforce()
    for n, (iso, rate, corporate) in enumerate((("EUR", 1.0, True), ("USD", 1.20, False), ("GBP", 0.85, False))):
        fake.put({"attributes": {"type": "CurrencyType"}, "Id": f"01L00000000000{n}", "IsoCode": iso,
                  "ConversionRate": rate, "IsCorporate": corporate, "IsActive": True, "SystemModstamp": T})
    for n, (iso, rate, start, end) in enumerate((("USD", 1.10, "2026-01-01", "2026-06-01"),
                                                 ("USD", 1.25, "2026-06-01", None),
                                                 ("GBP", 0.80, "2026-01-01", None))):
        fake.put({"attributes": {"type": "DatedConversionRate"}, "Id": f"04w00000000000{n}", "IsoCode": iso,
                  "ConversionRate": rate, "StartDate": start, "NextStartDate": end, "SystemModstamp": T})
    fake.put({"attributes": {"type": "Account"}, "Id": "001X00000000001", "Name": "Thames & Hudson Freight",
              "CreatedDate": T, "SystemModstamp": T, "IsDeleted": False})
    fake.put({"attributes": {"type": "Contact"}, "Id": "003X00000000001", "AccountId": "001X00000000001",
              "Email": "ines@thames-hudson.example", "FirstName": "Inês", "LastName": "Gonçalves",
              "CreatedDate": T, "SystemModstamp": T, "IsDeleted": False})
    for opportunity, amount, currency, closes in (("O-1", 1100, "USD", "2026-05-15"),
                                                  ("O-2", 1250, "USD", "2026-06-10"),
                                                  ("O-3", 500, "EUR", "2026-06-12")):
        stamp = f"{closes}T12:00:00.000+0000"
        fake.put({"attributes": {"type": "Opportunity"}, "Id": f"006X0000000000{opportunity[-1]}",
                  "AccountId": "001X00000000001", "ContactId": "003X00000000001", "Name": opportunity,
                  "StageName": "Closed Won", "Amount": amount, "CurrencyIsoCode": currency, "Probability": 100,
                  "CloseDate": closes, "IsClosed": True, "IsWon": True, "CreatedDate": T, "SystemModstamp": stamp,
                  "IsDeleted": False})
    return fake


@pytest.mark.parametrize(("reporting", "expected"), [
    ("EUR", [("O-1", Decimal("1000.00")), ("O-2", Decimal("1000.00")), ("O-3", Decimal("500.00"))]),
    ("GBP", [("O-1", Decimal("800.00")), ("O-2", Decimal("800.00")), ("O-3", Decimal("400.00"))]),
])
def test_salesforce_dated_rates_convert_each_deal_at_its_close_day(empty_warehouse, tmp_path, monkeypatch,
                                                                    reporting, expected):
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text("systems:\n  salesforce: {kind: salesforce}\n")
    (config / "nurture.yaml").write_text(nurture_without("mailchimp"))
    (config / "kpis.yaml").write_text((PATHS.root / "config" / "kpis.yaml").read_text()
                                      .replace("reporting_currency: EUR", f"reporting_currency: {reporting}"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    monkeypatch.setenv("SMARKETING_EXPORT_DIR", str(tmp_path / "exports"))
    with org() as salesforce, FakeHubSpot() as hubspot:
        for key, value in connection_env(hubspot, salesforce).items():
            monkeypatch.setenv(key, value)
        tasks.run_pipeline(f"rates-{reporting}", AS_OF)
    with empty_warehouse.connect() as conn:
        amounts = conn.execute(text("select name, amount from core.opportunity where currency = :c order by name"),
                               {"c": reporting}).all()
        june = conn.execute(text("select won_amount, currency from marts.funnel where month = '2026-06-01'"
                                 " and channel = 'all'")).one()
    assert [tuple(r) for r in amounts] == expected
    assert tuple(june) == (expected[1][1] + expected[2][1], reporting)
