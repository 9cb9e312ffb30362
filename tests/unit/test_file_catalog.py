"""The file-drop entity catalog is the one source of the fields: docs and suites follow it."""

import json
import unicodedata

import hypothesis

from smarketing import file_catalog
from smarketing.config import PATHS


def test_the_docs_page_is_the_catalog():
    assert (PATHS.root / "docs" / "file_drops.md").read_text() == file_catalog.markdown(), (
        "docs/file_drops.md differs from the catalog: .venv/bin/python -m smarketing.file_catalog > docs/file_drops.md")


def test_every_entity_has_a_suite_checking_its_required_and_typed_fields():
    """A suite per entity; required fields checked present, addresses checked as addresses, amounts
    and probabilities in range, stages against the configured taxonomy."""
    for name, entity in file_catalog.ENTITIES.items():
        suite = json.loads((PATHS.expectations / "gx" / "expectations" / f"file__{name}.json").read_text())
        checks = {(e["type"], e["kwargs"].get("column")): e["severity"] for e in suite["expectations"]}
        for field in entity.fields:
            if field.required:
                assert checks.get(("expect_column_values_to_not_be_null", field.name)) == "critical", (name, field)
            if field.kind == "email":
                assert checks.get(("expect_column_values_to_match_regex", field.name)) == "critical", (name, field)
            if field.name in ("amount", "declared_amount", "probability"):
                assert checks.get(("expect_column_values_to_be_between", field.name)) == "critical", (name, field)
            if field.name == "stage":
                assert checks.get(("expect_column_values_to_be_in_set", field.name)) == "critical", (name, field)


def test_every_field_has_a_kind_and_every_reference_an_entity():
    for entity in file_catalog.ENTITIES.values():
        for field in entity.fields:
            assert field.kind in file_catalog.KINDS, (entity.name, field.name)
            assert (field.kind == "id") == bool(field.ref), (entity.name, field.name)
            assert not field.ref or field.ref in file_catalog.ENTITIES, (entity.name, field.name)


@hypothesis.given(hypothesis.strategies.one_of(
    hypothesis.strategies.text(alphabet="abcXY09._+-'@%=&#!?/,;:\"\uff20 \u00e4", max_size=16),
    hypothesis.strategies.from_regex(  # near an address: decorated, encoded, cut short
        r"['\"]?[a-zA-Z0-9._%+=\-']{1,6}(@|%40|&#64;|\uff20)[a-zA-Z0-9.\-]{0,6}[.,'\"]?( [a-z]{1,3}@[a-z.]{1,4})?",
        fullmatch=True)))
@hypothesis.settings(max_examples=3000, deadline=None)
def test_an_address_cell_is_read_as_the_one_address_it_writes_whichever_path_reads_it(value):
    """A file drop's address cell that writes one address, however decorated, is that address; a cell
    of none or several, or a formula-like one, stays as written. The cells that need no decoding
    take a quicker path, which must read them alike."""
    from smarketing.file_drops import _address, _addresses_in, _decoded_address

    found = {unicodedata.normalize("NFKC", a).casefold() for a in _addresses_in(value.strip(), False)}
    assert _address(value) == _decoded_address(value.strip())
    assert (_address(value) == value.strip()) or len(found) == 1
