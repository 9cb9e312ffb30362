"""Accounts from the CRMs' and file drops' companies: one per domain, else one per company name,
in whatever alphabet the name is written; companies that give neither are counted by a core
check (sql/quality/core/company_without_account.sql) and logged."""

import logging

from sqlalchemy import text

from smarketing.quality import check_core
from smarketing.sources.base import RawRecord
from smarketing.transform import merge_core
from tests.integration.test_incremental import AS_OF, AT, land, sf_person


def sf_account(record_id: str, name: str, website: str | None = None) -> RawRecord:
    return RawRecord(record_id, AT, {"Id": record_id, "Name": name, "Website": website, "IsDeleted": False,
                                     "CreatedDate": "2026-01-05T10:00:00.000+0000"})


def hs_company(record_id: str, name: str) -> RawRecord:
    return RawRecord(record_id, AT, {"id": record_id, "archived": False, "properties": {
        "name": name, "createdate": "2026-01-05T10:00:00.000Z"}})


def test_a_company_named_in_any_alphabet_is_an_account_its_contacts_belong_to(empty_warehouse, caplog):
    """Found by a README-only trial: accounts named in Greek, Cyrillic or Japanese without a domain
    never reached core.account (their key read only ASCII letters), and nothing said so."""
    eng = empty_warehouse
    contact = sf_person("contacts", "003G1", AT, "Nikos", "Papadopoulos", "nikos@mail.example")
    contact.payload["AccountId"] = "001G"
    land(eng, {("salesforce", "accounts"): [
        sf_account("001G", "Σίγμα ΑΕ"), sf_account("001R", "ООО Газпром"), sf_account("001J", "株式会社トヨタ"),
        sf_account("001A", "Acme GmbH"), sf_account("001N", "GmbH"), sf_account("001W", "GmbH", "www.gmbh.example"),
        # a Latin legal form is no name (V051 keyed all three "s a", one account); nor is a Cyrillic one
        sf_account("001E", "Ελληνική Εταιρεία S.A."), sf_account("001F", "Άλλη Εταιρεία S.A."),
        sf_account("001K", "Ромашка S.A."), sf_account("001O", "ООО")],
        ("hubspot", "companies"): [hs_company("801", "ΣΊΓΜΑ ΑΕ"), hs_company("802", "ACME"),
                                   hs_company("803", "ООО Ромашка")],
        ("salesforce", "contacts"): [contact]}, "accounts")
    merge_core(eng, AS_OF)
    with eng.connect() as conn:
        accounts = dict(conn.execute(text(
            "select i.source || ':' || i.source_record_id, a.name from core.account_identity as i"
            " join core.account as a using (account_id)")).all())
        person_account = conn.execute(text(
            "select a.name from core.person_identity as i join core.person as p using (person_id)"
            " join core.account as a on a.account_id = p.account_id where i.source_record_id = '003G1'")).scalar()
    assert accounts == {"salesforce:001G": "Σίγμα ΑΕ", "hubspot:801": "Σίγμα ΑΕ",  # Salesforce names it
                        "salesforce:001R": "ООО Газпром", "salesforce:001J": "株式会社トヨタ",
                        "salesforce:001A": "Acme GmbH", "hubspot:802": "Acme GmbH", "salesforce:001W": "GmbH",
                        "salesforce:001E": "Ελληνική Εταιρεία S.A.", "salesforce:001F": "Άλλη Εταιρεία S.A.",
                        "salesforce:001K": "Ромашка S.A.", "hubspot:803": "Ромашка S.A."}
    assert person_account == "Σίγμα ΑΕ"
    with caplog.at_level(logging.WARNING):
        found = check_core(eng, "accounts")
    assert found["company_without_account"] == 2  # 001N "GmbH" without a website, 001O "ООО"
    assert [r.getMessage().split(":")[0] for r in caplog.records if "company_without_account" in r.getMessage()] == [
        "core check company_without_account [warning]"]
