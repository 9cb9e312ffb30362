"""docs/model.md names every table and column of core, and nothing that is not there."""

import re

from smarketing.config import PATHS


def documented() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    current = None
    for line in (PATHS.root / "docs" / "model.md").read_text().splitlines():
        heading = re.match(r"^### ([a-z_]+)", line)
        if heading:
            current = heading.group(1)
            tables[current] = set()
        row = re.match(r"^\| ([a-z_]+) \|", line)
        if row and current and row.group(1) != "column":
            tables[current].add(row.group(1))
    return tables


def test_the_model_page_matches_the_migrated_schema(empty_warehouse):
    with empty_warehouse.connect() as conn:
        rows = conn.exec_driver_sql(
            "select table_name, column_name from information_schema.columns where table_schema = 'core'").all()
    schema: dict[str, set[str]] = {}
    for table, column in rows:
        schema.setdefault(table, set()).add(column)
    assert documented() == schema
