"""File drops: loaded once, whole or not at all, bad rows quarantined; CSV exports alone feed the funnel."""

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from smarketing.config import PATHS
from smarketing.file_drops import FileDropError, load_drop, load_drops

EXAMPLES = PATHS.root / "examples" / "file_drops"


@pytest.fixture
def drops(tmp_path):
    """The example drops, pointed at a private copy of the example files."""
    shutil.copytree(EXAMPLES / "leads", tmp_path / "leads")
    shutil.copytree(EXAMPLES / "deals", tmp_path / "deals")
    by_name = {d.name: d for d in load_drops(EXAMPLES / "file_drops.yaml")}
    return {
        "leads": replace(by_name["crm_leads"], location=str(tmp_path / "leads")),
        "deals": replace(by_name["crm_closed_deals"], location=str(tmp_path / "deals")),
        "dir": tmp_path,
    }


def rows(eng, query, **params):
    with eng.connect() as conn:
        return conn.execute(text(query), params).all()


def test_good_files_load_and_a_bad_row_is_quarantined_with_its_reason(empty_warehouse, drops):
    stats = load_drop(empty_warehouse, drops["leads"], "run-1")
    assert (stats.files_loaded, stats.rows_loaded, stats.rows_quarantined) == (2, 8, 1)
    assert rows(empty_warehouse, "select record_id from raw.file__leads order by 1") == [
        (f"L-100{n}",) for n in (1, 2, 3, 4, 5, 6, 7, 9)
    ]
    assert rows(empty_warehouse, "select record_id, reason from quarantine.records") == [
        ("leads_2026-06.csv:4",
         "leads_2026-06.csv line 4: field 'first_contact_date' does not match the date format "
         "'%d/%m/%Y'"),
    ]
    payload = rows(empty_warehouse, "select payload from raw.file__leads where record_id = 'L-1001'")[0][0]
    assert payload["first_contact_date"] == "2026-05-03" and payload["origin_channel"] == "Paid search"


def test_a_file_is_loaded_once_by_checksum_even_under_another_name(empty_warehouse, drops):
    load_drop(empty_warehouse, drops["leads"], "run-1")
    shutil.copy(drops["dir"] / "leads" / "leads_2026-05.csv", drops["dir"] / "leads" / "leads_2026-05-resent.csv")
    again = load_drop(empty_warehouse, drops["leads"], "run-2")
    assert (again.files_loaded, again.files_skipped, again.rows_loaded) == (0, 3, 0)
    assert rows(empty_warehouse, "select count(*) from raw.file__leads") == [(8,)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"Lead;Channel\nL-1;Web\n", "lacks required column(s) ['E-mail', 'First contact', 'Landing page', 'Lead ID']"),
        ("Lead ID;First contact\nL-1;02/06/2026;Müller\n".encode("latin-1") + b"\xfc\n", "is not valid utf-8"),
        (b"", "is empty or has no header row"),
        (b"Lead ID;First contact;Channel;Landing page;E-mail\n\n", "has no data rows"),
    ],
    ids=["missing-column", "wrong-encoding", "empty", "header-only"],
)
def test_a_malformed_file_is_rejected_whole_and_the_others_still_load(empty_warehouse, drops, content, reason):
    (drops["dir"] / "leads" / "leads_broken.csv").write_bytes(content)
    with pytest.raises(FileDropError, match=r"file leads_broken.csv") as err:
        load_drop(empty_warehouse, drops["leads"], "run-1")
    assert reason in str(err.value)
    assert rows(empty_warehouse, "select file_name, status from meta.file_loads order by file_name") == [
        ("leads_2026-05.csv", "loaded"), ("leads_2026-06.csv", "loaded"), ("leads_broken.csv", "rejected"),
    ]
    assert rows(empty_warehouse, "select count(*) from raw.file__leads where payload->>'_file' = 'leads_broken.csv'") \
        == [(0,)]


def test_byte_order_mark_and_json_lines(empty_warehouse, drops, tmp_path):
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "events.jsonl").write_text(
        '\ufeff{"id": "a", "when": "2026-06-01"}\n{"id": "b", "when": "2026-06-02"}\n{broken\n[1, 2]\n\n'
        '{"id": "", "when": "2026-06-03"}\n'
    )
    drop = replace(drops["leads"], name="events", entity="web_events", location=str(folder), pattern="*.jsonl",
                   format="jsonl", id_column="id", columns={}, required=(), dates=("when",), date_format="%Y-%m-%d")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (2, 3)
    reasons = [r for (r,) in rows(empty_warehouse, "select reason from quarantine.records order by record_id")]
    assert reasons == [
        "events.jsonl line 3: line 3 is not valid JSON: Expecting property name enclosed in double quotes",
        "events.jsonl line 4: line 4 is a JSON list, not an object",
        "events.jsonl line 6: no value in id column 'id'",
    ]


def test_csv_exports_alone_produce_the_funnel_and_a_list(empty_warehouse, tmp_path, monkeypatch):
    """Leads and closed deals as CSV, no API: the funnel worked out by hand from examples/file_drops.

    May 2026: leads L-1001..L-1005 (5); deal L-1001 won 20 May, 4,800.00.
    June 2026: leads L-1006, L-1007, L-1009 (3; L-1008's 31/06 is quarantined); deals L-1003
    (declared 25,000.00, 2 June) and L-1007 (3,150.50, 29 June): 2 won, 28,150.50.
    recent_customers as of 30 June: tom.weber@example.org and jan.vogt@example.com.
    """
    from smarketing import tasks

    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text("systems: {}\n")
    shutil.copy(EXAMPLES / "file_drops.yaml", config / "file_drops.yaml")
    shutil.copy(EXAMPLES / "nurture.yaml", config / "nurture.yaml")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))

    stats = tasks.run_pipeline("csv-only", date(2026, 6, 30))

    funnel = rows(empty_warehouse, "select month, leads, mqls, opportunities, won, won_amount from marts.funnel"
                                   " where channel = 'all' order by month")
    assert [tuple(r) for r in funnel] == [
        (date(2026, 5, 1), 5, 0, 1, 1, 4800),
        (date(2026, 6, 1), 3, 0, 2, 2, 28150.50),
    ]
    assert rows(empty_warehouse, "select segment, count(*) from core.opportunity group by 1 order by 1") == [
        ("Enterprise", 1), ("SMB", 2)]
    members = rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'"
                                    " order by email")
    assert [m for (m,) in members] == ["jan.vogt@example.com", "tom.weber@example.org"]
    assert stats["file_drops"]["crm_leads"]["rows_quarantined"] == 1


def test_a_row_with_a_nul_character_is_quarantined_and_the_rest_loads(empty_warehouse, drops):
    """PostgreSQL cannot store NUL in text or jsonb: the row is quarantined (NUL shown as U+FFFD)."""
    folder = Path(drops["leads"].location)
    header = (folder / "leads_2026-05.csv").read_text().splitlines()[0]
    for old in folder.iterdir():
        old.unlink()
    (folder / "leads_nul.csv").write_text(
        f"{header}\nL-2001;03/05/2026;Paid search;/pricing;ada@example.com\n"
        "L-2002;03/05/2026;Paid search;/pri\x00cing;grace@example.com\n")
    stats = load_drop(empty_warehouse, drops["leads"], "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 1)
    assert rows(empty_warehouse, "select record_id from raw.file__leads") == [("L-2001",)]
    (reason, page), = rows(empty_warehouse,
                           "select reason, payload -> 'row' ->> 'Landing page' from quarantine.records")
    assert "NUL" in reason and page == "/pri\ufffdcing"


def test_a_mapped_column_missing_from_a_file_rejects_the_file(empty_warehouse, tmp_path):
    """A renamed or misspelled column would silently drop its field, an opt-out for one."""
    from tests.fixtures.drops import leads_drop

    drop = leads_drop(tmp_path, "Lead ID;Datum;Do not email\nL-1;04.05.2026;yes\n",
                      "    columns: {Datum: first_contact_date, Do not emial: email_opt_out}\n")
    with pytest.raises(FileDropError, match=r"lacks required column\(s\) \['Do not emial'\]"):
        load_drop(empty_warehouse, drop, "run-1")
    assert rows(empty_warehouse, "select count(*) from raw.file__leads")[0][0] == 0


def test_numbers_that_are_none_and_a_clashing_column_are_caught(empty_warehouse, drops):
    """Found by a trial: with decimal ',', '1200.50' loaded as 120050; 'Infinity' and 'NaN' loaded
    as amounts; an unmapped column named like a mapped field overwrote it."""
    folder = Path(drops["deals"].location)
    for old in folder.iterdir():
        old.unlink()
    (folder / "deals_trial.csv").write_text(
        "Lead ID;Won on;Segment;Revenue;Declared revenue;revenue\n"
        "L-1;20/05/2026;SMB;1.200,50;;\n"
        "L-2;20/05/2026;SMB;1200.50;;\n"
        "L-3;20/05/2026;SMB;Infinity;;\n"
        "L-4;20/05/2026;SMB;NaN;;\n"
        "L-5;20/05/2026;SMB;12.000;;999\n")
    stats = load_drop(empty_warehouse, drops["deals"], "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (2, 3)
    assert rows(empty_warehouse, "select record_id, payload ->> 'revenue' from raw.file__deals order by 1") == [
        ("L-1", "1200.50"), ("L-5", "12000")]
    assert [r for (r,) in rows(empty_warehouse, "select reason from quarantine.records order by record_id")] == [
        f"deals_trial.csv line {n}: field 'revenue' is not a number (decimal separator ','{extra})"
        for n, extra in ((3, ", '.' groups thousands"), (4, ""), (5, ""))]
