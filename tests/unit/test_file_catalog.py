"""The file-drop entity catalog is the one source of the fields: docs and suites follow it."""

import json

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
