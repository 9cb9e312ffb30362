"""Identity resolution clusters a load in batches of whole components (SMARKETING_IDENTITY_BATCH_RECORDS),
so a first load of any size fits in bounded memory: any batch size gives the same persons, ids,
merges and review queue as one batch."""

from datetime import date

import pytest
from sqlalchemy import text

from smarketing.demo.people import generate_hard
from smarketing.landing import land_page
from smarketing.transform import merge_core
from tests.conftest import reset_warehouse
from tests.integration.test_identity import T0, hs_contact, sf_contact, sf_lead

AS_OF = date(2026, 6, 30)
PERSON_ENTITIES = {("hubspot", "contacts"), ("salesforce", "leads"), ("salesforce", "contacts")}


def state(eng) -> dict[str, object]:
    with eng.connect() as conn:
        return {
            "links": sorted(conn.execute(text(
                "select source, entity, source_record_id, person_id, match_rule, match_score, matched_record, is_active"
                " from core.person_identity")).all()),
            "persons": sorted(conn.execute(text(
                "select person_id, match_key, merged_into_person_id, is_deleted from core.person")).all()),
            "merges": sorted(conn.execute(text(
                "select merged_person_id, surviving_person_id, match_rule from core.person_merge")).all()),
            "review": sorted(conn.execute(text(
                "select left_record, right_record, reason from core.identity_review")).all()),
        }


# Two persons in the first round (other mailboxes, other companies); the lead's conversion in the
# second makes them one: the contact it became holds the HubSpot contact's mailbox.
BRIDGE = (
    {("salesforce", "leads"): [sf_lead("00QB1", "ines.ortiz@alpha.example", "Inés", "Ortiz", "Alpha")],
     ("hubspot", "contacts"): [hs_contact("HB1", "ines@beta.example", "Ines", "Ortiz-Vega", "Beta")]},
    {("salesforce", "leads"): [sf_lead("00QB1", "ines.ortiz@alpha.example", "Inés", "Ortiz", "Alpha",
                                       at=T0.replace(day=2), IsConverted=True, ConvertedContactId="003B1")],
     ("salesforce", "contacts"): [sf_contact("003B1", "ines@beta.example", "Inés", "Ortiz Vega")]},
)


def two_rounds(eng, dataset) -> list[dict[str, object]]:
    """The hard profile's person records landed in two rounds (every other record first) and the
    bridge, a merge after each: the second round joins records to persons made in the first, and
    merges two of them."""
    states = []
    for half in (0, 1):
        for (system, entity), records in BRIDGE[half].items():
            land_page(eng, system, entity, records, f"bridge-{half}", max(r.version_at for r in records))
        for (system, entity), records in dataset.records.items():
            if (system, entity) in PERSON_ENTITIES and records[half::2]:
                land_page(eng, system, entity, records[half::2], f"round-{half}",
                          max(r.version_at for r in records[half::2]))
        with eng.begin() as conn:
            conn.exec_driver_sql("update meta.batches set validated_at = now() where validated_at is null")
        merge_core(eng, AS_OF)
        states.append(state(eng))
    return states


@pytest.fixture(scope="module")
def dataset():
    return generate_hard(seed=11, people=120)


def test_any_batch_size_resolves_as_one_batch(empty_warehouse, dataset, monkeypatch):
    whole = two_rounds(empty_warehouse, dataset)
    assert len(whole[-1]["persons"]) > 50 and whole[-1]["merges"], "the fixture should make persons and merges"
    reset_warehouse(empty_warehouse)
    monkeypatch.setenv("SMARKETING_IDENTITY_BATCH_RECORDS", "3")
    assert two_rounds(empty_warehouse, dataset) == whole


@pytest.mark.parametrize("value", ["0", "ten", "-5"])
def test_a_batch_size_that_is_no_whole_number_is_refused(empty_warehouse, dataset, monkeypatch, value):
    monkeypatch.setenv("SMARKETING_IDENTITY_BATCH_RECORDS", value)
    with pytest.raises(ValueError, match="SMARKETING_IDENTITY_BATCH_RECORDS"):
        two_rounds(empty_warehouse, dataset)
