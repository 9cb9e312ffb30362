"""Fuzzing the file-drop reader: whatever arrives, no crash without a clear error, and every data
row is either loaded or quarantined with a reason (counted)."""

import csv
import io
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from smarketing.file_drops import Drop, load_drop

huge = st.text(min_size=2000, max_size=5000, alphabet="ab\u00e9\u4e2d\"\n,")
value = st.one_of(st.none(), st.text(max_size=30), huge, st.integers().map(str), st.floats(allow_nan=True).map(str),
                  st.sampled_from(["2026-06-01", "31/02/2026", "", " "]))
row = st.fixed_dictionaries({"id": st.one_of(st.sampled_from(["1", "2", "3", ""]), st.text(max_size=5)),
                             "when": value, "amount": value, "note": value})
files = st.fixed_dictionaries({
    "rows": st.lists(row, max_size=12),
    "bom": st.booleans(),
    "encoding": st.sampled_from(["utf-8", "latin-1", "utf-16"]),
    "drop_column_on": st.sets(st.integers(min_value=0, max_value=11), max_size=2),
    "extra_column_on": st.sets(st.integers(min_value=0, max_value=11), max_size=2),
    "header": st.sampled_from([["id", "when", "amount", "note"], ["when", "amount"], ["id", "id", "when"]]),
})

DROP = Drop(name="fuzz", entity="deals", location="", pattern="*.csv", id_column="id",
            columns={"when": ("won_date",), "amount": ("amount",), "note": ("segment",)}, required=("won_date",),
            date_format=("%Y-%m-%d",))


def render(spec) -> tuple[bytes, int]:
    """The file's bytes, and how many data rows it has (non-blank lines after the header)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(spec["header"])
    data_rows = 0
    for n, r in enumerate(spec["rows"]):
        cells = ["" if r.get(c) is None else r.get(c) for c in spec["header"]]
        if n in spec["drop_column_on"] and cells:
            cells = cells[:-1]
        if n in spec["extra_column_on"]:
            cells = [*cells, "extra"]
        writer.writerow(cells)
    body = out.getvalue()
    data_rows = sum(1 for record in csv.reader(io.StringIO(body)) if any(c.strip() for c in record)) - 1
    text_ = ("\ufeff" if spec["bom"] else "") + body
    try:
        return text_.encode(spec["encoding"]), data_rows
    except UnicodeEncodeError:
        return text_.encode("utf-8", "replace"), data_rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=files)
@example(spec={"rows": [{"id": "\x00", "when": "0001-1-1", "amount": None, "note": None}], "bom": False,
               "encoding": "utf-8", "drop_column_on": set(), "extra_column_on": set(),
               "header": ["id", "when", "amount", "note"]})  # found by CI: NUL, which PostgreSQL cannot store
def test_every_row_is_loaded_or_quarantined_or_the_file_is_rejected(fuzz_drop, spec):
    eng, folder = fuzz_drop
    for old in folder.iterdir():
        old.unlink()
    content, data_rows = render(spec)
    (folder / "export.csv").write_bytes(content)
    with eng.begin() as conn:
        conn.exec_driver_sql("truncate meta.file_loads, quarantine.records")
        conn.exec_driver_sql("truncate raw.file__deals")
    stats = load_drop(eng, replace(DROP, location=str(folder)), "fuzz")
    if stats.rejected:
        assert "file export.csv" in stats.rejected["export.csv"]
        with eng.connect() as conn:
            assert conn.execute(text("select status from meta.file_loads")).scalars().all() == ["rejected"]
            assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 0
        return
    with eng.connect() as conn:
        quarantined = conn.execute(text("select count(*) from quarantine.records")).scalar()
        reasons = conn.execute(text("select reason from quarantine.records")).scalars().all()
    assert stats.rows_loaded + stats.rows_quarantined == data_rows
    assert quarantined == stats.rows_quarantined
    assert all(r.startswith("export.csv line ") for r in reasons)



@pytest.fixture(scope="module")
def fuzz_drop(engine, tmp_path_factory):
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    return engine, tmp_path_factory.mktemp("fuzz")
