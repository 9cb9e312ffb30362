"""Accounts from the CRMs' and file drops' companies: one per domain, else one per company name,
in whatever alphabet the name is written; companies that give neither are counted by a core
check (sql/quality/core/company_without_account.sql) and logged."""

import logging

import pytest
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


def test_a_legal_form_in_any_script_with_or_without_dots_is_no_part_of_the_name(empty_warehouse):
    """Found by a README-only trial of V052: Σίγμα Α.Ε. and Σίγμα ΑΕ were two accounts (one-letter
    words were joined in Latin letters only), and 삼성전자 주식회사 kept 주식회사 (the key
    decomposes Hangul, the list did not), so a lead at 삼성전자 got no account."""
    eng = empty_warehouse
    lead = sf_person("leads", "00QK1", AT, "Min-jun", "Kim", "minjun@mail.example", company="삼성전자")
    land(eng, {("salesforce", "accounts"): [
        sf_account("001S", "Σίγμα Α.Ε."), sf_account("001D", "Δέλτα Ε.Π.Ε."), sf_account("001R", "О.О.О. Ромашка"),
        sf_account("001K", "삼성전자 주식회사"), sf_account("001X", "Α.Ε."), sf_account("001T", "株式会社サクラ")],
        ("hubspot", "companies"): [hs_company("811", "Σίγμα ΑΕ"), hs_company("812", "ΔΈΛΤΑ"),
                                   hs_company("813", "Ромашка"), hs_company("814", "주식회사 삼성전자"),
                                   # a second trial's: short forms, and Latin letters that look alike
                                   hs_company("815", "(주)삼성전자"), hs_company("816", "㈜삼성전자"),
                                   hs_company("817", "삼성전자(주)"), hs_company("818", "（株）サクラ"),
                                   hs_company("819", "㈱サクラ"), hs_company("820", "サクラ(株)"),
                                   hs_company("821", "OOO Ромашка"), hs_company("822", "Σίγμα A.E.")],
        ("salesforce", "leads"): [lead]}, "accounts")
    merge_core(eng, AS_OF)
    with eng.connect() as conn:
        accounts = dict(conn.execute(text(
            "select i.source || ':' || i.source_record_id, a.name from core.account_identity as i"
            " join core.account as a using (account_id)")).all())
        lead_account = conn.execute(text(
            "select a.name from core.person_identity as i join core.person as p using (person_id)"
            " join core.account as a on a.account_id = p.account_id where i.source_record_id = '00QK1'")).scalar()
    assert accounts == {"salesforce:001S": "Σίγμα Α.Ε.", "hubspot:811": "Σίγμα Α.Ε.",
                        "salesforce:001D": "Δέλτα Ε.Π.Ε.", "hubspot:812": "Δέλτα Ε.Π.Ε.",
                        "salesforce:001R": "О.О.О. Ромашка", "hubspot:813": "О.О.О. Ромашка",
                        "salesforce:001K": "삼성전자 주식회사", "hubspot:814": "삼성전자 주식회사",
                        **{f"hubspot:{n}": "삼성전자 주식회사" for n in (815, 816, 817)},
                        "salesforce:001T": "株式会社サクラ",
                        **{f"hubspot:{n}": "株式会社サクラ" for n in (818, 819, 820)},
                        "hubspot:821": "О.О.О. Ромашка", "hubspot:822": "Σίγμα Α.Ε."}
    assert lead_account == "삼성전자 주식회사"
    assert check_core(eng, "accounts")["company_without_account"] == 1  # Α.Ε. alone


@pytest.mark.parametrize("merged_under_v052", [False, True])
def test_an_upgrade_keeps_the_ids_of_accounts_a_new_key_rule_makes_one(empty_warehouse, tmp_path, merged_under_v052):
    """Found by a README-only trial: V052 re-keyed accounts V051 had made (ООО Ромашка was
    'ооо ромашка', then 'ромашка'), so the upgrade's full refresh made new accounts, moved every
    person and deal to them and left the old ones without records. Upgraded from V051 (and, the
    second case, after a merge already ran under V052), every account keeps its first id, with
    its persons and deals, and no two accounts share a name."""
    import shutil

    from smarketing import warehouse
    from smarketing.config import PATHS

    def migrate_to(version: int) -> None:
        folder = tmp_path / f"v{version}"
        folder.mkdir()
        for path in sorted((PATHS.sql / "schema").glob("V*.sql")):
            # V057 (core.mailbox_consent's key) as well: the merges run here are today's
            if int(path.name[1:4]) <= version or path.name.startswith("V057"):
                shutil.copy(path, folder)
        warehouse.migrate(eng, folder)

    eng = empty_warehouse
    with eng.begin() as conn:  # the fixture's warehouse is migrated to the latest version: start at V051
        for schema in warehouse.SCHEMAS:
            conn.exec_driver_sql(f"drop schema if exists {schema} cascade")
    migrate_to(51)
    contacts = [sf_person("contacts", f"003U{n}", AT, first, "Upgrade", f"{first.lower()}@mail.example")
                for n, first in enumerate(("Olga", "Kenji", "Wei", "Anna"))]
    for contact, account in zip(contacts, ("001R", "001J", "001C", "001A"), strict=True):
        contact.payload["AccountId"] = account
    land(eng, {("salesforce", "accounts"): [
        sf_account("001R", "ООО Ромашка"), sf_account("001J", "株式会社テスト"), sf_account("001C", "北京科技有限公司"),
        sf_account("001A", "Acme GmbH")], ("salesforce", "contacts"): contacts}, "v051")
    merge_core(eng, AS_OF)

    def accounts() -> dict[str, tuple[int, str]]:
        with eng.connect() as conn:
            return {record: (account_id, name) for record, account_id, name in conn.execute(text(
                "select i.source_record_id, a.account_id, a.name from core.person_identity as i"
                " join core.person as p using (person_id) join core.account as a on a.account_id = p.account_id"
                " union all select i.source_record_id, a.account_id, a.name from core.account_identity as i"
                " join core.account as a using (account_id)"))}

    before = accounts()
    assert len(before) == 8
    if merged_under_v052:
        migrate_to(52)
        merge_core(eng, AS_OF, full=True)
        assert accounts() != before  # what the trial saw: new ids for three of the four companies
    warehouse.migrate(eng)
    merge_core(eng, AS_OF, full=True)  # the upgrade's first merge (identity's rules version changed)
    assert accounts() == before
    with eng.connect() as conn:
        names = conn.execute(text("select name from core.account order by name")).scalars().all()
    assert names == sorted(["ООО Ромашка", "株式会社テスト", "北京科技有限公司", "Acme GmbH"])
