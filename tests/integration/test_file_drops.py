"""File drops: loaded once, whole or not at all, bad rows quarantined; CSV exports alone feed the funnel."""

import os
import re
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from smarketing.config import PATHS, ConfigError
from smarketing.file_drops import holds, load_drop, load_drops

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
         "leads_2026-06.csv line 4: field 'first_contact_date' matches no date format of the drop (%d/%m/%Y)"),
    ]
    payload = rows(empty_warehouse, "select payload from raw.file__leads where record_id = 'L-1001'")[0][0]
    assert payload["first_contact_date"] == "2026-05-03T00:00:00+00:00" and payload["origin_channel"] == "Paid search"


def test_a_copy_under_another_name_is_skipped_saying_so(empty_warehouse, drops):
    load_drop(empty_warehouse, drops["leads"], "run-1")
    shutil.copy(drops["dir"] / "leads" / "leads_2026-05.csv", drops["dir"] / "leads" / "leads_2026-05-resent.csv")
    again = load_drop(empty_warehouse, drops["leads"], "run-2")
    assert (again.files_loaded, again.files_skipped, again.rows_loaded) == (0, 3, 0)
    assert again.skipped["leads_2026-05-resent.csv"].startswith("the same content as leads_2026-05.csv, loaded ")
    assert again.skipped["leads_2026-06.csv"].startswith("unchanged since it was loaded ")
    assert rows(empty_warehouse, "select count(*) from raw.file__leads") == [(8,)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"Lead;Channel\nL-1;Web\n", "lacks required column(s) ['E-mail', 'First contact', 'Landing page', 'Lead ID']"),
        ("Lead ID;First contact\nL-1;02/06/2026;Müller\n".encode("latin-1") + b"\xfc\n", "is not valid utf-8"),
        (b"", "is empty or has no header row"),
        (b"Lead ID;First contact;Channel;Landing page;E-mail\n\n", "has no data rows"),
        (b"Lead ID;First contact;Channel;Landing page;E-mail;E-mail\nL-1;02/06/2026;Web;/;a@example.com;\n",
         "repeats column name(s) ['E-mail']"),
    ],
    ids=["missing-column", "wrong-encoding", "empty", "header-only", "repeated-column"],
)
def test_a_malformed_file_is_rejected_whole_and_the_others_still_load(empty_warehouse, drops, content, reason):
    (drops["dir"] / "leads" / "leads_broken.csv").write_bytes(content)
    stats = load_drop(empty_warehouse, drops["leads"], "run-1")
    assert list(stats.rejected) == ["leads_broken.csv"] and stats.files_loaded == 2
    assert reason in stats.rejected["leads_broken.csv"]
    assert rows(empty_warehouse, "select file_name, status, reason like '%' || :reason || '%' from meta.file_loads"
                                 " order by file_name", reason=reason) == [
        ("leads_2026-05.csv", "loaded", None), ("leads_2026-06.csv", "loaded", None),
        ("leads_broken.csv", "rejected", True),
    ]
    assert rows(empty_warehouse, "select count(*) from raw.file__leads where payload->>'_file' = 'leads_broken.csv'") \
        == [(0,)]


def test_an_unchanged_rejected_file_is_not_read_again_and_a_fixed_one_loads(empty_warehouse, drops):
    broken = drops["dir"] / "leads" / "leads_broken.csv"
    broken.write_bytes(b"Lead;Channel\nL-1;Web\n")
    load_drop(empty_warehouse, drops["leads"], "run-1")
    # same size and modification time, other bytes: proof the second run does not read it
    stamp = broken.stat()
    broken.write_bytes(b"Lead;Channel\nL-2;Web\n")
    os.utime(broken, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    again = load_drop(empty_warehouse, drops["leads"], "run-2")
    assert list(again.rejected) == ["leads_broken.csv"] and again.files_loaded == 0  # still rejected, not re-read
    assert again.skipped["leads_broken.csv"].startswith("unchanged since it was rejected ")
    assert "lacks required column(s)" in again.skipped["leads_broken.csv"]
    broken.write_bytes(b"Lead ID;First contact;Channel;Landing page;E-mail\nL-2001;01/06/2026;Web;/;\n")
    fixed = load_drop(empty_warehouse, drops["leads"], "run-3")
    assert (fixed.files_loaded, fixed.rows_loaded, fixed.rejected) == (1, 1, {})


def test_a_file_edited_or_reverted_applies_again(empty_warehouse, drops):
    """Append mode: each file's latest content is applied; going back to earlier content is a change too."""
    folder = Path(drops["leads"].location)
    may = folder / "leads_2026-05.csv"
    original = may.read_text()
    load_drop(empty_warehouse, drops["leads"], "run-1")
    may.write_text(original.replace("Paid search;/pricing;mira", "Webinar;/pricing;mira"))
    assert load_drop(empty_warehouse, drops["leads"], "run-2").files_loaded == 1
    may.write_text(original)
    assert load_drop(empty_warehouse, drops["leads"], "run-3").files_loaded == 1
    latest = rows(empty_warehouse, "select payload ->> 'origin_channel' from raw.file__leads where record_id = 'L-1001'"
                                   " order by version_at desc limit 1")
    assert latest == [("Paid search",)]


def test_a_changed_mapping_applies_the_files_again(empty_warehouse, drops):
    load_drop(empty_warehouse, drops["leads"], "run-1")
    remapped = replace(drops["leads"], columns={**drops["leads"].columns, "Landing page": ("landing_page", "company")})
    again = load_drop(empty_warehouse, remapped, "run-2")
    assert (again.files_loaded, again.files_skipped) == (2, 0)
    assert rows(empty_warehouse, "select payload ->> 'company' from raw.file__leads"
                                 " where record_id = 'L-1001' order by version_at desc limit 1") == [("/pricing",)]


def test_a_snapshot_drop_applies_its_newest_file_and_marks_missing_records_deleted(empty_warehouse, drops):
    folder = Path(drops["leads"].location)
    snapshot = replace(drops["leads"], mode="snapshot")
    first = load_drop(empty_warehouse, snapshot, "run-1")
    assert first.skipped == {"leads_2026-05.csv": "older than leads_2026-06.csv, the newest file of this snapshot"
                                                  " drop"}
    assert (first.rows_loaded, first.rows_deleted) == (3, 0)
    june = folder / "leads_2026-06.csv"
    original = june.read_text()
    june.write_text("\n".join(line for line in original.splitlines() if not line.startswith("L-1009")) + "\n")
    second = load_drop(empty_warehouse, snapshot, "run-2")
    assert (second.rows_loaded, second.rows_deleted) == (2, 1)
    june.write_text(original)  # reverted: L-1009 is back
    third = load_drop(empty_warehouse, snapshot, "run-3")
    assert (third.rows_loaded, third.rows_deleted) == (3, 0)
    assert rows(empty_warehouse, "select is_deleted from raw.file__leads where record_id = 'L-1009'"
                                 " order by version_at") == [(False,), (True,), (False,)]
    assert load_drop(empty_warehouse, snapshot, "run-4").files_loaded == 0


def test_files_outside_the_drop_folder_are_not_read(empty_warehouse, drops, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("Lead ID;First contact;Channel;Landing page;E-mail\nL-666;01/06/2026;Web;/;x@example.com\n")
    (Path(drops["leads"].location) / "leads_link.csv").symlink_to(secret)
    (Path(drops["leads"].location) / "leads_folder.csv").mkdir()
    os.mkfifo(Path(drops["leads"].location) / "leads_pipe.csv")
    stats = load_drop(empty_warehouse, drops["leads"], "run-1")
    assert "outside the drop's folder" in stats.skipped["leads_link.csv"]
    assert stats.skipped["leads_folder.csv"] == stats.skipped["leads_pipe.csv"] == "is no regular file: not read"
    assert rows(empty_warehouse, "select count(*) from raw.file__leads where record_id = 'L-666'") == [(0,)]


def test_a_pattern_reaching_outside_the_folder_is_a_config_error(tmp_path):
    from tests.fixtures.drops import leads_drop

    with pytest.raises(ConfigError, match=r"pattern '\.\./\*\.csv' reaches outside the drop's folder"):
        leads_drop(tmp_path, "Lead ID\nL-1\n", "    pattern: '../*.csv'\n")
    # a README-only trial's: an empty pattern passed `config check`, then failed every drop's load with
    # pathlib's "Unacceptable pattern: ''", naming neither the file nor the key
    for n, (pattern, why) in enumerate((("''", "is empty"), ("' '", "is empty"), ("'.'", "names the folder itself"),
                                        ("'**'", "names folders, not files"), ("'exports/**'", "names folders"))):
        with pytest.raises(ConfigError, match=rf"drops\.crm_leads\.pattern: .*pattern {re.escape(pattern)} {why}"):
            (tmp_path / str(n)).mkdir()
            leads_drop(tmp_path / str(n), "Lead ID\nL-1\n", f"    pattern: {pattern}\n")


def test_a_file_larger_than_a_chunk_streams_through(empty_warehouse, drops, monkeypatch):
    """Rows are shaped and copied CHUNK_ROWS at a time; duplicates across chunks still resolve."""
    from smarketing import file_drops

    monkeypatch.setattr(file_drops, "CHUNK_ROWS", 2)
    folder = Path(drops["leads"].location)
    for old in folder.iterdir():
        old.unlink()
    lines = [f"L-{n};01/06/2026;Web;/;" for n in range(7)] + ["L-1;02/06/2026;Fair;/;", "L-9;31/02/2026;Web;/;"]
    (folder / "leads_big.csv").write_text("Lead ID;First contact;Channel;Landing page;E-mail\n" + "\n".join(lines))
    stats = load_drop(empty_warehouse, drops["leads"], "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (7, 2)
    assert rows(empty_warehouse, "select payload ->> 'origin_channel' from raw.file__leads where record_id = 'L-1'") \
        == [("Fair",)]
    assert sorted(r for (r,) in rows(empty_warehouse, "select reason from quarantine.records")) == [
        "leads_big.csv line 10: field 'first_contact_date' matches no date format of the drop (%d/%m/%Y)",
        "leads_big.csv line 3: id 'L-1' appears again on line 9, which is loaded",
    ]


def test_byte_order_mark_and_json_lines(empty_warehouse, drops, tmp_path):
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "events.jsonl").write_text(
        '\ufeff{"id": "a", "when": "2026-06-01"}\n{"id": "b", "when": "2026-06-02"}\n{broken\n[1, 2]\n\n'
        '{"id": "", "when": "2026-06-03"}\n{"id": "c", "when": "2026-06-04", "when": "2026-06-05"}\n'
    )
    drop = replace(drops["leads"], name="events", entity="activities", location=str(folder), pattern="*.jsonl",
                   format="jsonl", id_column="id", columns={"when": ("occurred_at",)}, required=(),
                   date_format=("%Y-%m-%d",))
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (2, 4)
    reasons = [r for (r,) in rows(empty_warehouse, "select reason from quarantine.records order by record_id")]
    assert reasons == [
        "events.jsonl line 3: line 3 is not valid JSON: Expecting property name enclosed in double quotes",
        "events.jsonl line 4: line 4 is a JSON list, not an object",
        "events.jsonl line 6: no value in id column 'id'",
        "events.jsonl line 7: line 7 repeats key(s) ['when']",
    ]


def test_csv_exports_alone_produce_the_funnel_and_a_list(empty_warehouse, tmp_path, monkeypatch):
    """Leads and closed deals as CSV, no API: the funnel worked out by hand from examples/file_drops.

    May 2026: leads L-1001..L-1005 (5); deal L-1001 won 20 May, 4,800.00 (its lead passed through
    MQL then: 1 MQL).
    June 2026: leads L-1006, L-1007, L-1009 (3; L-1008's 31/06 is quarantined); deals L-1003
    (declared 25,000.00, 2 June) and L-1007 (3,150.50, 29 June): 2 won, 28,150.50; 2 MQLs passed
    through at them.
    recent_customers as of 30 June: tom.weber@example.org and jan.vogt@example.com.
    An empty file beside the leads is rejected, and everything else still runs.
    """
    from smarketing import tasks
    from smarketing.report import summary

    files_only_config(tmp_path, monkeypatch)
    (tmp_path / "leads" / "leads_2026-07.csv").write_bytes(b"")

    stats = tasks.run_pipeline("csv-only", date(2026, 6, 30))

    funnel = rows(empty_warehouse, "select month, leads, mqls, opportunities, won, won_amount from marts.funnel"
                                   " where channel = 'all' order by month")
    assert [tuple(r) for r in funnel] == [
        (date(2026, 5, 1), 5, 1, 1, 1, 4800),
        (date(2026, 6, 1), 3, 2, 2, 2, 28150.50),
    ]
    assert rows(empty_warehouse, "select segment, count(*) from core.opportunity group by 1 order by 1") == [
        ("Enterprise", 1), ("SMB", 2)]
    members = rows(empty_warehouse, "select email from nurture.list_members where program = 'recent_customers'"
                                    " order by email")
    assert [m for (m,) in members] == ["jan.vogt@example.com", "tom.weber@example.org"]
    assert stats["file_drops"]["crm_leads"]["rows_quarantined"] == 1
    assert list(stats["file_drops"]["crm_leads"]["files_rejected"]) == ["leads_2026-07.csv"]
    shown = summary(empty_warehouse, "postgresql://x@y/z", date(2026, 6, 30))
    assert "crm_leads: 2 file(s) loaded, 1 rejected:\n    file leads_2026-07.csv is empty" in shown


def test_a_lead_missing_from_a_new_snapshot_leaves_the_funnel(empty_warehouse, tmp_path, monkeypatch):
    """A snapshot drop's newest file is the whole state: a lead no longer in it no longer counts."""
    from smarketing import tasks

    files_only_config(tmp_path, monkeypatch, extra="    mode: snapshot\n")
    (tmp_path / "leads" / "leads_2026-05.csv").unlink()
    june = tmp_path / "leads" / "leads_2026-06.csv"
    tasks.run_pipeline("snapshot-1", date(2026, 6, 30))
    june_leads = "select leads from marts.funnel where channel = 'all' and month = '2026-06-01'"
    assert rows(empty_warehouse, june_leads) == [(3,)]
    june.write_text("\n".join(line for line in june.read_text().splitlines() if not line.startswith("L-1009")))
    tasks.run_pipeline("snapshot-2", date(2026, 6, 30))
    assert rows(empty_warehouse, june_leads) == [(2,)]
    assert rows(empty_warehouse, "select p.is_deleted from core.person as p join core.person_identity as i"
                                 " using (person_id) where i.source_record_id = 'L-1009'") == [(True,)]


def files_only_config(tmp_path, monkeypatch, extra: str = "") -> None:
    """config/ of examples/file_drops (no API), its drops reading copies of the example files in
    ``tmp_path``; ``extra`` adds YAML lines to the leads drop."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text("systems: {}\n")
    shutil.copytree(EXAMPLES / "leads", tmp_path / "leads")
    shutil.copytree(EXAMPLES / "deals", tmp_path / "deals")
    drops = (EXAMPLES / "file_drops.yaml").read_text().replace("examples/file_drops/", f"{tmp_path}/")
    (config / "file_drops.yaml").write_text(drops.replace("    pattern: \"leads_*.csv\"\n",
                                                          "    pattern: \"leads_*.csv\"\n" + extra))
    shutil.copy(EXAMPLES / "nurture.yaml", config / "nurture.yaml")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))


def test_files_status_of_a_stopped_warehouse_claims_nothing_about_what_it_loaded(tmp_path, monkeypatch, capsys):
    """Found by a README-only trial: with the embedded warehouse stopped, `files status` said nothing
    had been loaded and listed the files it had loaded as loading on the next run."""
    from smarketing import cli, embedded, warehouse

    files_only_config(tmp_path, monkeypatch)
    server = tmp_path / "warehouse"
    eng = warehouse.engine(embedded.start(server, port=embedded.free_port()))
    try:
        warehouse.migrate(eng)
        load_drop(eng, next(d for d in load_drops() if d.name == "crm_leads"), "run-1")
    finally:
        eng.dispose()
        embedded.stop(server)
    monkeypatch.delenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", raising=False)
    monkeypatch.setenv("SMARKETING_WAREHOUSE_DIR", str(server))
    assert cli.main(["files", "status", "crm_leads"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"(the warehouse in {server} is stopped: which files it loaded is not known; `smarketing warehouse start`"
        " shows it)", f"drop crm_leads (append, leads) in {tmp_path}/leads",
        "  leads_2026-05.csv: loaded or not: the warehouse is stopped",
        "  leads_2026-06.csv: loaded or not: the warehouse is stopped"]
    monkeypatch.setenv("SMARKETING_WAREHOUSE_DIR", str(tmp_path / "none"))
    assert cli.main(["files", "status", "crm_leads"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "(no warehouse running or configured: nothing has been loaded yet)"


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
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert "lacks required column(s) ['Do not emial']" in stats.rejected["export.csv"]
    assert rows(empty_warehouse, "select count(*) from raw.file__leads")[0][0] == 0


def test_a_file_rejected_for_a_column_written_in_another_case_keeps_its_opt_outs(empty_warehouse, tmp_path):
    """Found by a README-only trial: a file rejected because its opt-out column's name differed in
    case only lost its opt-outs; a rejected file's rows are read for them by names in any case."""
    from tests.fixtures.drops import leads_drop

    drop = leads_drop(tmp_path, "lead id;E-MAIL;do not email\nL-1;ann@x.example;yes\nL-2;bob@x.example;\n",
                      "    columns: {E-Mail: email, Do not email: email_opt_out}\n")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert "lacks required column(s) ['Do not email', 'E-Mail', 'Lead ID']" in stats.rejected["export.csv"]
    assert rows(empty_warehouse, "select payload -> 'mapped' ->> 'email', payload ->> 'record_id'"
                                 " from quarantine.records") == [("ann@x.example", "L-1")]


@pytest.mark.parametrize("content", [
    "Lead ID,E-Mail,Do not email\nL-1,ann@x.example,yes\nL-2,\"Bob <bob@x.example>\",\n",  # another delimiter
    "Lead ID;E-Mail;Unsubscribed\nL-1;ann@x.example;yes\nL-2;bob@x.example;\n",  # the opt-out column renamed
    "Lead ID;E-Mail;Do not email;Do not email\nL-1;ann@x.example;yes;\nL-2;bob@x.example;;\n",  # written twice
    "Lead ID;Mail;Do not email\nL-1;<ann%40x.example>;yes\nL-2;bob&#64;x.example;\n",  # encoded
], ids=["delimiter", "renamed", "repeated", "encoded"])
def test_a_rejected_file_whose_opt_outs_cannot_be_told_holds_its_addresses_until_it_loads(empty_warehouse, tmp_path,
                                                                                        content):
    """Found by a README-only trial: a file rejected because its columns could not be located (the
    delimiter or the opt-out column's name not the drop's) kept none of its opt-outs. Who in it
    opted out cannot be told, so every address in it is held off the lists until a file of that
    name loads; the fixed file lifts the hold and its own opt-outs count."""
    from tests.fixtures.drops import leads_drop

    drop = leads_drop(tmp_path, content, "    columns: {E-Mail: email, Do not email: email_opt_out}\n")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert "its 2 addresses are held off every list until a file named export.csv loads" in stats.rejected[
        "export.csv"]
    held = ("select payload -> 'mapped' ->> 'email' from quarantine.records where expectation = 'rejected_file_held'"
            " order by 1")
    assert rows(empty_warehouse, held) == [("ann@x.example",), ("bob@x.example",)]
    assert "held off every list" in rows(empty_warehouse, "select reason from meta.file_loads")[0][0]
    # a second trial's: a new version rejected for another reason, or the file emptied, lifted the hold
    (Path(drop.location) / "export.csv").write_bytes("Lead ID;E-Mail;Do not email\nL-3;jürgen@x.example;\n"
                                                     .encode("latin-1"))
    again = load_drop(empty_warehouse, drop, "run-2").rejected["export.csv"]
    assert "is not valid utf-8" in again and "its 2 addresses are held" in again  # the earlier holds, still held
    (Path(drop.location) / "export.csv").write_bytes(b"")
    assert "is empty" in load_drop(empty_warehouse, drop, "run-3").rejected["export.csv"]
    assert rows(empty_warehouse, held) == [("ann@x.example",), ("bob@x.example",)]

    (Path(drop.location) / "export.csv").write_text("Lead ID;E-Mail;Do not email\nL-1;ann@x.example;yes\n"
                                                    "L-2;bob@x.example;\n")
    assert load_drop(empty_warehouse, drop, "run-4").files_loaded == 1
    assert rows(empty_warehouse, held) == []
    assert rows(empty_warehouse, "select record_id, payload ->> 'email_opt_out' from raw.file__leads order by 1") == [
        ("L-1", "yes"), ("L-2", None)]


def test_an_address_is_found_however_a_rejected_file_writes_it():
    from smarketing.file_drops import _addresses_in

    line = 'x;"p54"@x.example;https://e.example/unsub?to=ann%40x.example&l=1;{"mail": "m\\u00fcller@x.de"}\n'
    assert set(_addresses_in(line, jsonl=False)) >= {"p54@x.example", "ann@x.example"}
    encoded = "p15%2540x.example;p34&amp;#64;x.example;p20=40x.example;p21\uff20x.example;p33 %40 x.example"
    assert set(_addresses_in(encoded, jsonl=False)) >= {f"p{n}@x.example" for n in (15, 34, 20, 21, 33)}
    assert list(_addresses_in('{"mail": "m\\u00fcller@x.de", "to": ["a@b.example"]}', jsonl=True)) == [
        "müller@x.de", "a@b.example"]


def test_a_newer_snapshot_lifts_no_hold_of_an_older_file(empty_warehouse, tmp_path):
    """Found by a README-only trial: a snapshot drop's newer file loading lifted the hold of an older
    rejected one, whose unsubscribe was never read (and which, older than the snapshot, never loads)."""
    drop = one_drop(tmp_path, "snap", "entity: subscriptions, mode: snapshot, pattern: 'snap_*.csv',"
                                      " columns: {mail: email, state: status, changed: changed_at}",
                    {"snap_04.csv": "id|mail|state|changed\nS2|p40@x.example|unsubscribed|2026-06\n"})
    assert set(load_drop(empty_warehouse, drop, "run-1").rejected) == {"snap_04.csv"}
    (tmp_path / "snap" / "snap_05.csv").write_text("id,mail,state,changed\nS1,p49@x.example,subscribed,2026-06-20\n")
    assert load_drop(empty_warehouse, drop, "run-2").files_loaded == 1
    assert rows(empty_warehouse, "select payload ->> 'file', payload -> 'mapped' ->> 'email' from quarantine.records"
                                 " where expectation like '%held'") == [("snap_04.csv", "p40@x.example")]


def test_a_row_whose_fields_cannot_be_told_apart_holds_its_addresses(empty_warehouse, tmp_path):
    """Found by a README-only trial: a row with a field too many or too few (a stray delimiter in a
    name) was quarantined with nothing read from it, its opt-out lost; so were JSON Lines lines with
    an object or array where a value belongs, a key in two cases, or the address under another key.
    Each such row's addresses are held off the lists until a new version of its file loads."""
    from tests.fixtures.drops import leads_drop

    drop = leads_drop(tmp_path, "Lead ID;E-Mail;Do not email\nL-40;p40@x.example;\nL-41;p41@x.example;yes;extra note\n"
                                "L-42;Van;p42@x.example;\nL-43;p43@x.example\n",
                      "    columns: {E-Mail: email, Do not email: email_opt_out}\n")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 3)
    held = ("select payload ->> 'line', payload -> 'mapped' ->> 'email' from quarantine.records"
            " where expectation = 'unreadable_row_held' order by 1")
    assert rows(empty_warehouse, held) == [("3", "p41@x.example"), ("4", "p42@x.example"), ("5", "p43@x.example")]
    (Path(drop.location) / "export.csv").write_text("Lead ID;E-Mail;Do not email\nL-41;p41@x.example;yes\n")
    assert load_drop(empty_warehouse, drop, "run-2").files_loaded == 1
    assert rows(empty_warehouse, held) == []

    events = one_drop(tmp_path, "esp", "entity: email_events, pattern: '*.jsonl', format: jsonl,"
                                       " columns: {recipient: email, event: type, ts: occurred_at}", {"events.jsonl":
        '{"id": "e1", "recipient": "ann@x.example", "event": "open", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e4", "recipient": {"email": "mark@x.example"}, "event": "unsubscribe", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e46", "recipient": ["p35@x.example"], "event": "complaint", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e50", "recipient": "p55@x.example", "event": {"type": "unsubscribe"}, "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e40", "recipient": "p28@x.example", "event": "open", "Event": "unsubscribe", "ts": "2026-06-20"}\n'
        '{"id": "e41", "Recipient_Email": "p29@x.example", "event": "unsubscribe", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e42", "recipient": "p30@x.example", "event": "open", "ts": "2026-06-31T10:00:00Z"}\n'})
    stats = load_drop(empty_warehouse, events, "run-3")
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 6)
    assert rows(empty_warehouse, held) == [("2", "mark@x.example"), ("3", "p35@x.example"), ("4", "p55@x.example"),
                                           ("5", "p28@x.example"), ("6", "p29@x.example")]  # not e42's bad date


def test_a_type_or_status_that_is_no_text_or_no_value_holds_its_addresses(empty_warehouse, tmp_path):
    """Found by a README-only trial: JSON Lines events whose type was a number, true or null, or
    missing, and subscriptions whose status was false or 0, were quarantined holding no one, and
    `values: {type: {"550": hard_bounce}}` did not read a JSON 550. A number or boolean is read as
    its JSON text; a type or status no word names, or none at all, holds the row's addresses."""
    events = one_drop(tmp_path, "esp", "entity: email_events, pattern: '*.jsonl', format: jsonl,"
                                       " columns: {recipient: email, event: type, ts: occurred_at},"
                                       " values: {type: {'550': hard_bounce}}", {"events.jsonl":
        '{"id": "e1", "recipient": "ann@x.example", "event": "open", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e2", "recipient": "bob@x.example", "event": 550, "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e3", "recipient": "cem@x.example", "event": true, "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e4", "recipient": "dan@x.example", "event": null, "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e5", "recipient": "eva@x.example", "ts": "2026-06-20T10:00:00Z"}\n'
        '{"id": "e6", "recipient": "fay@x.example", "event": 4.2, "ts": "2026-06-20T10:00:00Z"}\n'})
    stats = load_drop(empty_warehouse, events, "run-1")
    assert stats.rows_loaded == 2 and stats.values_held == {"events.jsonl": {"": 2, "4.2": 1, "true": 1}}
    subscriptions = one_drop(tmp_path, "subs", "entity: subscriptions, pattern: '*.jsonl', format: jsonl", {"s.jsonl":
        '{"id": "s1", "email": "gus@x.example", "subscription": "all", "status": false}\n'
        '{"id": "s2", "email": "hal@x.example", "subscription": "all", "status": 0}\n'
        '{"id": "s3", "email": "ian@x.example", "subscription": "all", "status": "subscribed"}\n'})
    assert load_drop(empty_warehouse, subscriptions, "run-1").rows_loaded == 1
    assert rows(empty_warehouse, "select record_id, payload ->> 'type' from raw.file__email_events order by 1") == [
        ("e1", "open"), ("e2", "hard_bounce")]
    assert held_by_file(empty_warehouse) == {
        "events.jsonl": ["cem@x.example", "dan@x.example", "eva@x.example", "fay@x.example"],
        "s.jsonl": ["gus@x.example", "hal@x.example"]}
    # a trial's: a file rejected with its columns read said who in it opted out could not be told
    rejected = one_drop(tmp_path, "esp2", "entity: email_events, columns: {Campaign: campaign_id}", {"e.csv":
        "id,email,type,occurred_at\nz1,zoe@x.example,Dropped,2026-06-20\nz2,zak@x.example,open,2026-06-20\n"})
    reason = load_drop(empty_warehouse, rejected, "run-2").rejected["e.csv"]
    assert reason.endswith("; 1 address(es) of its rows that cannot be read, or give a type or status no word names,"
                           " are held off every list (`smarketing files status`)")


def test_a_held_value_counts_as_the_drops_values_map_it_now(empty_warehouse, tmp_path):
    """Found by a README-only re-trial: a held value mapped to a harmless word lost its hold for
    good, so once its file was gone, mapping it to a hard bounce suppressed no one; an empty type
    could not be mapped, nor a key written with spaces. A row held for its type counts as the
    drop's `values` map it on every run: as a word, a hard bounce among them, or held again."""
    from smarketing.config import ConfigError

    rows_of = ("select payload -> 'mapped' ->> 'email', payload -> 'mapped' ->> 'type' from quarantine.records"
               " where expectation = 'resolved_value' order by 1")
    spec = "entity: email_events, values: {{type: {{{}}}}}"
    drop = one_drop(tmp_path, "esp", spec.format("Bogus: open"), {"e.csv":
        "id,email,type,occurred_at\ne1,alice@x.example,Dropped,2026-06-21\ne2,carl@x.example,,2026-06-21\n"
        "e3,dora@x.example,open,2026-06-21\n"})
    load_drop(empty_warehouse, drop, "run-1")
    assert held_by_file(empty_warehouse) == {"e.csv": ["alice@x.example", "carl@x.example"]}
    for mapping, resolved, held in (
            ("'Dropped ': open, '': open", [("alice@x.example", "open"), ("carl@x.example", "open")], {}),
            ("dropped: hard_bounce, '': hard_bounce",
             [("alice@x.example", "hard_bounce"), ("carl@x.example", "hard_bounce")], {}),
            ("Bogus: open", [], {"e.csv": ["alice@x.example", "carl@x.example"]})):
        (tmp_path / "esp" / "e.csv").unlink(missing_ok=True)  # the next versions no longer hold the rows
        drop = load_drops_with(tmp_path, spec.format(mapping))
        load_drop(empty_warehouse, drop, "run-2")
        assert rows(empty_warehouse, rows_of) == resolved and held_by_file(empty_warehouse) == held
    with pytest.raises(ConfigError, match="values.type maps 'dropped' twice"):
        load_drops_with(tmp_path, spec.format("Dropped: hard_bounce, dropped: open"))
    # a re-trial's: two drops of one entity over one folder landed a file both read under the same ids,
    # each with its own values, and the last load decided whether a bounce was an open
    config = tmp_path / "file_drops.yaml"
    config.write_text(f"drops:\n  esp: {{location: {tmp_path / 'esp'}, entity: email_events}}\n"
                      f"  esp2: {{location: {tmp_path / 'esp'}/, entity: email_events, pattern: 'ev2*.csv'}}\n")
    with pytest.raises(ConfigError, match="drops esp and esp2 both read email_events from .* with the same ids"):
        load_drops(config)
    # nor when one names the folder otherwise: as a file:// address, through `..` or a symbolic link
    (tmp_path / "link").symlink_to(tmp_path / "esp")
    for other in (f"file://{tmp_path}/esp", f"{tmp_path}/link/../esp", f"{tmp_path}/link"):
        config.write_text(f"drops:\n  esp: {{location: {tmp_path / 'esp'}, entity: email_events}}\n"
                          f"  esp2: {{location: '{other}', entity: email_events, pattern: 'ev2*.csv'}}\n")
        with pytest.raises(ConfigError, match="drops esp and esp2 both read email_events from .* with the same ids"):
            load_drops(config)
    config.write_text(config.read_text().replace("pattern: 'ev2*.csv'", "constants: {system: esp2}"))
    assert [d.name for d in load_drops(config)] == ["esp", "esp2"]


def load_drops_with(folder: Path, spec: str):
    """The one drop of ``folder/file_drops.yaml`` (over ``folder/esp``) with ``spec`` as its settings."""
    (folder / "file_drops.yaml").write_text(f"drops:\n  esp: {{location: {folder / 'esp'}, {spec}}}\n")
    (drop,) = load_drops(folder / "file_drops.yaml")
    return drop


def held_by_file(eng) -> dict[str, list[str]]:
    """Per file, the addresses held off the lists (rejected unread or rows not read), sorted."""
    found: dict[str, list[str]] = {}
    for name, addresses in rows(eng, "select payload ->> 'file', payload -> 'mapped' ->> 'email' from"
                                     " quarantine.records where expectation like '%held' order by 1, 2"):
        found.setdefault(name, []).extend(addresses.split(" "))
    return {name: sorted(addresses) for name, addresses in found.items()}


def test_a_quote_left_open_in_a_last_column_holds_the_rows_it_swallows(empty_warehouse, tmp_path):
    """Found by a README-only trial: an unclosed quote in a file's last column read every later line
    into that field, the row count still right, so the unsubscribes, complaints and bounces in them
    counted for no one. A field running over lines that read as rows (as many delimiters as the
    header has) makes its row unreadable: every address in it is held; a field over several lines
    of text (a note) is no such row."""
    events = one_drop(tmp_path, "esp", "entity: email_events", {
        "events.csv": 'id,email,type,occurred_at,url\n1,x31@x.example,click,2026-06-10T10:00:00Z,"https://a.example/?q=s\n'
                      "2,x04@x.example,unsubscribe,2026-06-10T10:00:00Z,\n3,x05@x.example,complaint,2026-06-10T10:00:00Z,\n",
        "closed.csv": 'id,email,type,occurred_at,url\n7,x50@x.example,click,2026-06-10T10:00:00Z,"https://a.example/x\n'
                      '8,x51@x.example,unsubscribe,2026-06-10T10:00:00Z,https://a.example/y"\n'
                      "9,x52@x.example,open,2026-06-10T10:00:00Z,\n",
        "note.csv": 'id,email,type,occurred_at,url\n5,x60@x.example,open,2026-06-10T10:00:00Z,"first line\n'
                    'second, line"\n'})
    stats = load_drop(empty_warehouse, events, "run-1")  # events.csv is one row: rejected, every row failed
    assert (stats.rows_loaded, stats.rows_quarantined, list(stats.rejected)) == (2, 1, ["events.csv"])
    assert held_by_file(empty_warehouse) == {"closed.csv": ["x50@x.example", "x51@x.example"],
                                             "events.csv": ["x04@x.example", "x05@x.example", "x31@x.example"]}
    assert "lines 2-3 are one row: a quoted field runs over lines that read as rows (a quote left open?)" in rows(
        empty_warehouse, "select reason from quarantine.records where record_id = 'closed.csv:3'")[0][0]
    # a re-trial's: files status counted the rows held, one, not their addresses
    assert {name: count for name, (count, _, _) in holds(empty_warehouse)["esp"].items()} == {
        "closed.csv": 2, "events.csv": 3}


def test_rows_no_reading_can_tell_hold_their_addresses_however_their_file_ends(empty_warehouse, tmp_path):
    """Found by a second README-only re-trial: a file in which every row failed held nothing; nor
    did JSON Lines lines that do not parse (truncated, a key repeated, not an object), a UTF-16 file
    (Excel's "Unicode text"), a drop reading `type` by its name given a file calling it `event`, a
    row with its opt-out but its address under an unmapped key, or `email` and `Email` both."""
    for folder in ("leads", "contacts", "jl", "events", "events2"):
        (tmp_path / folder).mkdir()
    header = "Lead ID;First contact;E-mail;Opt out\n"
    (tmp_path / "leads" / "leads_short.csv").write_text(f"{header}L-79;p79@x.example;yes\n")
    (tmp_path / "leads" / "leads_quote.csv").write_text(
        "Lead ID;First contact;E-mail;Opt out\nL-68;p68@x.example;\nL-69;01/06/2026;\"p69@x.example;yes\n"
        "L-70;01/06/2026;p70@x.example;yes\n")
    (tmp_path / "leads" / "leads_utf16.csv").write_bytes(
        "Lead ID;First contact;E-mail;Opt out\nL-62;01/06/2026;p62@x.example;yes\n".encode("utf-16"))
    (tmp_path / "contacts" / "rows.jsonl").write_text(
        '{"id": "C-1", "email": "c1@x.example"}\n{"id": "C-11", "email": "c11@x.example", "email_opt_out": "yes"\n'
        '{"id": "C-12", "email": "c12@x.example", "email_opt_out": "yes", "email_opt_out": ""}\n'
        '["C-15", "c15@x.example", "yes"]\n"c13@x.example"\n')
    (tmp_path / "contacts" / "trunc.jsonl").write_text('{"id": "C-25", "email": "c25@x.example", "email_opt_out": 1\n')
    (tmp_path / "jl" / "c2.jsonl").write_text('{"cid": "C-1", "Mail": "c1@x.example", "OptOut": ""}\n'
                                              '{"cid": "C-56", "E-mail": "p56@x.example", "OptOut": "yes"}\n')
    (tmp_path / "events" / "renamed.csv").write_text("id,email,event,occurred_at\nE2,p11@x.example,bounce,2026-06-10\n")
    (tmp_path / "events2" / "twice.csv").write_text("id,email,Email,type,occurred_at\nE1,p1@x.example,,open,2026-06-10"
                                                    "\nE40,p82@x.example,p83@x.example,unsubscribe,2026-06-10\n")
    (tmp_path / "file_drops.yaml").write_text(
        f"drops:\n  leads: {{entity: leads, location: {tmp_path / 'leads'}, delimiter: ';', id_column: Lead ID,"
        " date_format: '%d/%m/%Y', columns: {First contact: first_contact_date, E-mail: email,"
        " Opt out: email_opt_out}}\n"
        f"  contacts: {{entity: contacts, location: {tmp_path / 'contacts'}, pattern: '*.jsonl', format: jsonl}}\n"
        f"  jl: {{entity: contacts, location: {tmp_path / 'jl'}, pattern: '*.jsonl', format: jsonl, id_column: cid,"
        " columns: {Mail: email, OptOut: email_opt_out}}\n"
        f"  events: {{entity: email_events, location: {tmp_path / 'events'}}}\n"
        f"  events2: {{entity: email_events, location: {tmp_path / 'events2'}}}\n")
    stats = {drop.name: load_drop(empty_warehouse, drop, "run-1") for drop in load_drops(tmp_path / "file_drops.yaml")}
    assert set(stats["leads"].rejected) == {"leads_short.csv", "leads_quote.csv", "leads_utf16.csv"}
    assert set(stats["contacts"].rejected) == {"trunc.jsonl"} and set(stats["events"].rejected) == {"renamed.csv"}
    assert (stats["jl"].rows_loaded, stats["events2"].rows_loaded, stats["events2"].rows_quarantined) == (2, 1, 1)
    assert held_by_file(empty_warehouse) == {
        "c2.jsonl": ["p56@x.example"], "leads_quote.csv": ["p68@x.example", "p69@x.example", "p70@x.example"],
        "leads_short.csv": ["p79@x.example"], "renamed.csv": ["p11@x.example"],
        "rows.jsonl": ["c11@x.example", "c12@x.example", "c13@x.example", "c15@x.example"],
        "trunc.jsonl": ["c25@x.example"], "twice.csv": ["p82@x.example", "p83@x.example"]}
    assert rows(empty_warehouse, "select payload -> 'mapped' ->> 'email' from quarantine.records"
                                 " where expectation = 'rejected_file'") == [("p62@x.example",)]  # UTF-16, read


def test_a_drop_without_columns_reads_a_field_named_in_another_case(empty_warehouse, tmp_path):
    """Found by a README-only trial: a drop mapping no columns read a header "Email_Opt_Out" as no
    field (a warning only), and the opt-out in it fed nothing."""
    drop = one_drop(tmp_path, "nocols", "entity: contacts, delimiter: ';'",
                    {"a.csv": "id;EMAIL;Email_Opt_Out\nN-1;p62@x.example;yes\n"})
    assert load_drop(empty_warehouse, drop, "run-1").rows_loaded == 1
    assert rows(empty_warehouse, "select payload ->> 'email', payload ->> 'email_opt_out' from raw.file__contacts") == [
        ("p62@x.example", "yes")]


def test_a_file_rejected_with_its_columns_in_place_holds_no_one(empty_warehouse, tmp_path):
    """A file whose opt-out column is where the drop says keeps the opt-outs it has and holds no one else."""
    from tests.fixtures.drops import leads_drop

    drop = leads_drop(tmp_path, "Lead ID;E-Mail;Do not email;First contact\nL-1;ann@x.example;yes;31.02.2026\n"
                                "L-2;bob@x.example;;30.02.2026\n",
                      "    columns: {E-Mail: email, Do not email: email_opt_out, First contact: first_contact_date}\n"
                      "    date_format: ['%d.%m.%Y']\n")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert "every one of its 2 rows failed" in stats.rejected["export.csv"] and "held" not in stats.rejected[
        "export.csv"]
    assert rows(empty_warehouse, "select expectation, payload -> 'mapped' ->> 'email' from quarantine.records"
                                 " where expectation like 'rejected_file%'") == [("rejected_file", "ann@x.example")]


def test_a_bounce_an_export_does_not_call_soft_is_a_hard_bounce(empty_warehouse, tmp_path):
    """Found by a README-only trial: an events export writing "Bounce" or "bounced" (SendGrid's and
    many an ESP's word for a message the receiving server refused) had the row quarantined as an
    unknown type, so the address was never suppressed. A bounce not said to be soft is hard."""
    drop = one_drop(tmp_path, "esp", "entity: email_events, columns: {event: type, at: occurred_at}", {"events.csv":
        "id,email,event,at\nE1,ann@x.example,Bounce,2026-06-01T10:00:00Z\nE2,bob@x.example,bounced,2026-06-01T10:00:00Z\n"
        "E3,cem@x.example,Soft bounce,2026-06-01T10:00:00Z\nE4,dan@x.example,deferred,2026-06-01T10:00:00Z\n"})
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (3, 1)
    assert rows(empty_warehouse, "select record_id, payload ->> 'type' from raw.file__email_events order by 1") == [
        ("E1", "hard_bounce"), ("E2", "hard_bounce"), ("E3", "soft_bounce")]
    assert rows(empty_warehouse, "select record_id from quarantine.records") == [("events.csv:5",)]  # "deferred"


def one_drop(folder: Path, name: str, spec: str, files: dict[str, str]):
    """The drop ``name`` over ``folder/name`` holding ``files`` (name: text); ``spec`` is the rest
    of its YAML flow mapping (``entity: leads, columns: {...}``)."""
    (folder / name).mkdir()
    for file, body in files.items():
        (folder / name / file).write_text(body)
    (folder / "file_drops.yaml").write_text(f"drops:\n  {name}: {{location: {folder / name}, {spec}}}\n")
    (drop,) = load_drops(folder / "file_drops.yaml")
    return drop


def json_lines_leads(folder: Path, files: dict[str, str]):
    """A JSON Lines leads drop over ``folder/jl`` holding ``files`` (name: text): id key ``ref``,
    ``mail`` the email, ``optout`` the opt-out."""
    return one_drop(folder, "jl", "entity: leads, pattern: '*.jsonl', format: jsonl, id_column: ref,"
                                  " columns: {mail: email, optout: email_opt_out}", files)


def test_a_mapped_key_no_line_of_a_json_lines_file_has_rejects_the_file(empty_warehouse, tmp_path):
    """Found by a README-only trial: a JSON Lines export writing "opt_out" where the drop maps
    "optout" loaded, its opt-outs feeding nothing. A key is one line's, so the file is rejected
    when no line has it; a line without an optional key is a line without that value."""
    drop = json_lines_leads(tmp_path, {
        "a.jsonl": '{"ref": "J9", "mail": "lena@otto.example", "opt_out": "yes"}\n'
                   '{"ref": "J10", "mail": "max@pohl.example", "do_not_email": "yes"}\n',
        "b.jsonl": '{"ref": "J11", "mail": "ida@pohl.example"}\n'
                   '{"ref": "J12", "mail": "ole@pohl.example", "optout": "ja"}\n'})
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert "lacks mapped key(s) ['optout'] in every line" in stats.rejected["a.jsonl"]
    assert rows(empty_warehouse, "select payload -> 'mapped' ->> 'email' from quarantine.records"
                                 " where expectation = 'rejected_file_held' order by 1") == [
        ("lena@otto.example",), ("max@pohl.example",)]  # who of them opted out cannot be told
    assert rows(empty_warehouse, "select record_id, payload ->> 'email_opt_out' from raw.file__leads"
                                 " order by 1") == [("J11", None), ("J12", "ja")]


def test_a_json_lines_key_written_in_another_case_is_read_as_the_mapped_one(empty_warehouse, tmp_path):
    """Found by a README-only trial: a line writing "OptOut" where the drop maps "optout" (other
    lines writing it as mapped) loaded without its opt-out. A key is matched in any case; a line
    writing it twice in different cases is quarantined, which one is meant being a guess."""
    drop = json_lines_leads(tmp_path, {
        "a.jsonl": '{"ref": "J1", "mail": "ann@x.example", "optout": ""}\n'
                   '{"REF": "J2", "Mail": "bob@x.example", "OptOut": "ja"}\n'
                   '{"ref": "J3", "mail": "cem@x.example", "optout": "", "OPTOUT": "ja"}\n'})
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (2, 1)
    assert rows(empty_warehouse, "select record_id, payload ->> 'email', payload ->> 'email_opt_out'"
                                 " from raw.file__leads order by 1") == [("J1", "ann@x.example", None),
                                                                         ("J2", "bob@x.example", "ja")]
    (reason, opt_out), = rows(empty_warehouse, "select reason, payload -> 'mapped' ->> 'email_opt_out'"
                                               " from quarantine.records where expectation = 'parse'")
    assert reason == "a.jsonl line 3: line 3 writes key(s) ['optout'] in more than one case" and opt_out == "ja"
    assert rows(empty_warehouse, "select payload -> 'mapped' ->> 'email' from quarantine.records"
                                 " where expectation = 'unreadable_row_held'") == [("cem@x.example",)]


def test_numbers_that_are_none_and_a_clashing_column_are_caught(empty_warehouse, drops):
    """Found by a trial: with decimal ',', '1200.50' loaded as 120050; 'Infinity' and 'NaN' loaded
    as amounts; an unmapped column named like a mapped field overwrote it."""
    folder = Path(drops["deals"].location)
    for old in folder.iterdir():
        old.unlink()
    (folder / "deals_trial.csv").write_text(
        "Lead ID;Won on;Segment;Revenue;Declared revenue;amount\n"
        "L-1;20/05/2026;SMB;1.200,50;;\n"
        "L-2;20/05/2026;SMB;1200.50;;\n"
        "L-3;20/05/2026;SMB;Infinity;;\n"
        "L-4;20/05/2026;SMB;NaN;;\n"
        "L-5;20/05/2026;SMB;12.000;;999\n"
        "L-6;20/05/2026;SMB;1e999999;;\n"  # the trial's: 1E+999999 landed, and the deal came without an amount
        "L-7;20/05/2026;SMB;1_000;;\n"
        "L-8;20/05/2026;SMB;2,5e3;;\n"
        "L-9;20/05/2026;SMB;1e400;;\n")  # a second trial's: no double holds it, so no check compares it
    stats = load_drop(empty_warehouse, drops["deals"], "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (3, 6)
    assert rows(empty_warehouse, "select record_id, payload ->> 'amount' from raw.file__deals order by 1") == [
        ("L-1", "1200.50"), ("L-5", "12000"), ("L-8", "2.5E+3")]
    assert [r for (r,) in rows(empty_warehouse, "select reason from quarantine.records order by record_id")] == [
        f"deals_trial.csv line {n}: field 'amount' is not a number (decimal separator ','{extra})"
        for n, extra in ((10, ""), (3, ", '.' groups thousands"), (4, ""), (5, ""), (7, ""), (8, ""))]  # by id


def test_files_status_says_what_the_next_run_does_and_reload_applies_again(empty_warehouse, tmp_path, monkeypatch,
                                                                          capsys):
    from smarketing import cli

    files_only_config(tmp_path, monkeypatch)
    (tmp_path / "leads" / "leads_2026-07.csv").write_bytes(b"")
    assert cli.main(["files", "status", "crm_leads"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  leads_2026-05.csv: loads on the next run (new)", "  leads_2026-06.csv: loads on the next run (new)",
        "  leads_2026-07.csv: loads on the next run (new)"]
    drop = next(d for d in load_drops() if d.name == "crm_leads")
    load_drop(empty_warehouse, drop, "run-1")
    assert cli.main(["files", "status", "crm_leads"]) == 0
    shown = capsys.readouterr().out.splitlines()[1:]
    assert [line.split(": ", 1)[0] for line in shown] == ["  leads_2026-05.csv", "  leads_2026-06.csv",
                                                          "  leads_2026-07.csv"]
    assert shown[0].endswith("unchanged since it was loaded " + shown[0].rsplit("loaded ", 1)[1])
    assert "unchanged since it was rejected" in shown[2] and "is empty or has no header row" in shown[2]
    assert cli.main(["files", "reload", "crm_leads"]) == 1  # one file is still rejected
    out = capsys.readouterr().out
    assert out.startswith("drop crm_leads: 2 file(s) loaded again (8 rows, 1 quarantined, 0 marked deleted)")
    assert rows(empty_warehouse, "select count(distinct version_at) from raw.file__leads") == [(4,)]
    assert cli.main(["files", "reload", "no_such_drop"]) == 2


def test_files_status_names_a_rejected_files_held_addresses_and_release_gives_them_up(empty_warehouse, tmp_path,
                                                                                      monkeypatch, capsys):
    """The example leads drop maps no opt-out column: a file of it split at another delimiter holds
    only when its one column's name shows a column read by its name (email_opt_out) inside."""
    from smarketing import cli

    files_only_config(tmp_path, monkeypatch)
    header = "Lead ID,First contact,Channel,Landing page,E-mail"
    (tmp_path / "leads" / "leads_2026-07.csv").write_text(f"{header},email_opt_out\nL-9,02/07/2026,Web,/,ida@x.de,1\n")
    (tmp_path / "leads" / "leads_2026-08.csv").write_text(f"{header}\nL-10,02/08/2026,Web,/,ole@x.de\n")
    stats = load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "crm_leads"), "run-1")
    assert set(stats.rejected) == {"leads_2026-07.csv", "leads_2026-08.csv"}
    assert cli.main(["files", "status", "crm_leads"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in shown if "held" in line] == ["  leads_2026-07.csv"] * 2  # reason, hold
    assert shown[-1].startswith("  leads_2026-07.csv: 1 address(es) in it held off every list since ")
    assert shown[-1].endswith(" UTC until a new version of it loads (`smarketing files release crm_leads"
                              " leads_2026-07.csv` gives it up once it is removed)")
    # a second trial's: a file released while still there put who unsubscribed in it on the list
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 1
    assert "is still in the drop's folder" in capsys.readouterr().err
    (tmp_path / "leads" / "leads_2026-07.csv").unlink()
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 0
    assert "the hold on its 1 address(es) is lifted" in capsys.readouterr().out
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 1
    held = "select count(*) from quarantine.records where expectation like '%held'"
    assert rows(empty_warehouse, held) == [(0,)]

    # and a drop renamed in file_drops.yaml left its holds where no command showed or released them
    (tmp_path / "leads" / "leads_2026-09.csv").write_text(f"{header},email_opt_out\nL-11,02/09/2026,Web,/,eva@x.de,1\n")
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "crm_leads"), "run-2")
    config = tmp_path / "config" / "file_drops.yaml"
    config.write_text(config.read_text().replace("  crm_leads:", "  crm_leads_v2:"))
    assert cli.main(["files", "release", "crm_leads", "leads_2026-09.csv"]) == 1  # still there, for crm_leads_v2
    assert "is still in the folder of drop crm_leads_v2" in capsys.readouterr().err
    (tmp_path / "leads" / "leads_2026-09.csv").unlink()
    assert cli.main(["files", "status"]) == 0
    assert any(line.startswith("  leads_2026-09.csv: 1 address(es) in it held off every list since")
               for line in capsys.readouterr().out.split("drop crm_leads, no longer in")[1].splitlines())
    assert cli.main(["files", "release", "crm_leads", "leads_2026-09.csv"]) == 0
    assert rows(empty_warehouse, held) == [(0,)]


def test_a_held_file_cannot_be_released_while_its_content_is_in_the_folder(empty_warehouse, tmp_path, monkeypatch,
                                                                           capsys):
    """Found by a README-only trial: a held file renamed (to a name the pattern reads, or to one it
    does not) could be released, and the addresses it holds went on the lists: the renamed copy is
    skipped as content loaded before. Release is refused while a file of that name or that content
    is anywhere in the folder."""
    from smarketing import cli

    files_only_config(tmp_path, monkeypatch)
    header = "Lead ID,First contact,Channel,Landing page,E-mail"
    held_file = tmp_path / "leads" / "leads_2026-07.csv"
    held_file.write_text(f"{header},email_opt_out\nL-9,02/07/2026,Web,/,ida@x.de,1\n")
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "crm_leads"), "run-1")
    for renamed in ("leads_2026-07b.csv", "leads_2026-07.csv.bak"):  # read by the pattern, then not
        held_file = held_file.rename(held_file.with_name(renamed))
        assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 1
        assert f"its content is in {renamed}" in capsys.readouterr().err
    held_file.unlink()
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 0


def test_a_renamed_drops_hold_can_be_released_once_the_drop_under_its_new_name_read_the_file(
        empty_warehouse, tmp_path, monkeypatch, capsys):
    """Found by a README-only re-trial: once a drop was renamed, the holds under its old name could
    be released only by moving the file out of the folder and back. Release is allowed once a drop
    of the same entity has read the file's content as it is (holding it again under its own name);
    not before, nor when the drop now reads another entity."""
    from smarketing import cli

    files_only_config(tmp_path, monkeypatch)
    (tmp_path / "leads" / "leads_2026-07.csv").write_text(
        "Lead ID,First contact,Channel,Landing page,E-mail,email_opt_out\nL-9,02/07/2026,Web,/,ida@x.de,1\n")
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "crm_leads"), "run-1")
    config = tmp_path / "config" / "file_drops.yaml"
    yaml_text = config.read_text()
    config.write_text(yaml_text.replace("crm_leads:", "web_leads:"))
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 1  # web_leads has not read it
    assert "is still in the folder of drop web_leads" in capsys.readouterr().err
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "web_leads"), "run-2")
    assert held_by_drop(empty_warehouse) == {"crm_leads": ["ida@x.de"], "web_leads": ["ida@x.de"]}
    assert cli.main(["files", "release", "crm_leads", "leads_2026-07.csv"]) == 0
    assert held_by_drop(empty_warehouse) == {"web_leads": ["ida@x.de"]}
    # renamed and reading the folder as contacts, the drop has not read the file's leads
    config.write_text(yaml_text.replace("crm_leads:", "contact_leads:").replace("entity: leads", "entity: contacts"))
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "contact_leads"), "run-3")
    assert cli.main(["files", "release", "web_leads", "leads_2026-07.csv"]) == 1
    assert "is still in the folder of drop contact_leads" in capsys.readouterr().err


def test_a_file_of_the_same_name_in_another_drops_folder_does_not_hold_a_release(empty_warehouse, tmp_path,
                                                                                 monkeypatch, capsys):
    """Found by a README-only trial: `files release ev_delim events.csv`, its drop removed and its file
    gone, was refused because another drop's folder held an events.csv of other content. A file of
    the held file's name counts in the folder its hold was made over (or the hold's own drop's), its
    content in any."""
    from smarketing import cli

    files_only_config(tmp_path, monkeypatch)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "events.csv").write_text("id;email;type;occurred_at\nE1;ann@x.example;open;2026-06-10\n")
    (tmp_path / "b" / "events.csv").write_text("id,email,type,occurred_at\nE9,bob@x.example,open,2026-06-10\n")
    config = tmp_path / "config" / "file_drops.yaml"
    drops = config.read_text()
    other = f"  ev_other: {{entity: email_events, location: {tmp_path / 'b'}, constants: {{system: b}}}}\n"
    config.write_text(drops + f"  ev_delim: {{entity: email_events, location: {tmp_path / 'a'}}}\n" + other)
    load_drop(empty_warehouse, next(d for d in load_drops() if d.name == "ev_delim"), "run-1")
    assert held_by_drop(empty_warehouse) == {"ev_delim": ["ann@x.example"]}
    config.write_text(drops + other)
    assert cli.main(["files", "release", "ev_delim", "events.csv"]) == 1  # still in its folder, read by no drop
    assert "drop ev_delim: file events.csv is still in the drop's folder" in capsys.readouterr().err
    (tmp_path / "a" / "events.csv").unlink()
    assert cli.main(["files", "release", "ev_delim", "events.csv"]) == 0
    assert held_by_drop(empty_warehouse) == {}


def held_by_drop(eng) -> dict[str, list[str]]:
    """Per drop name, the addresses held off the lists, sorted."""
    return {drop: sorted(addresses) for drop, addresses in rows(
        eng, "select payload ->> 'drop', array_agg(payload -> 'mapped' ->> 'email') from quarantine.records"
             " where expectation like '%held' group by 1")}


def test_files_no_drop_reads_in_a_drops_folder_are_named_not_passed_over(empty_warehouse, tmp_path, monkeypatch,
                                                                         capsys):
    """Found by a README-only trial: an export saved as .CSV or .csv.txt, or put in a subfolder, was
    skipped without a word by the drop reading leads_*.csv. The run, its summary and files status
    name each entry of a drop's folder no drop reading that folder matches (dot-files aside: uploads
    in progress)."""
    from smarketing import cli, tasks
    from smarketing.report import summary

    files_only_config(tmp_path, monkeypatch)
    header = "Lead ID;First contact;Channel;Landing page;E-mail\nL-9;02/07/2026;Web;/;ida@x.de\n"
    for name in ("leads_2026-07.CSV", "leads_2026-08.csv.txt", "archive/leads_2026-04.csv", ".leads_2026-09.csv.part"):
        (tmp_path / "leads" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "leads" / name).write_text(header)
    stats = tasks.load_file_drops("run-1", date(2026, 7, 31))
    assert stats["crm_leads"]["files_loaded"] == 2
    assert stats["crm_leads"]["files_unmatched"] == {
        "archive": "a folder no pattern of the drops reading this folder reaches ('leads_*.csv'): not read",
        "leads_2026-07.CSV": "matches no pattern of the drops reading this folder ('leads_*.csv'): not read",
        "leads_2026-08.csv.txt": "matches no pattern of the drops reading this folder ('leads_*.csv'): not read"}
    assert "files_unmatched" not in stats["crm_closed_deals"]
    shown = summary(empty_warehouse, "postgresql://x@y/z", date(2026, 7, 31))
    assert "    3 entries of its folder match no drop's pattern, not read: archive, leads_2026-07.CSV," \
           " leads_2026-08.csv.txt" in shown
    assert cli.main(["files", "status", "crm_leads"]) == 0
    assert "  leads_2026-07.CSV: matches no pattern of the drops reading this folder ('leads_*.csv'): not read" \
        in capsys.readouterr().out.splitlines()


def test_files_status_on_a_warehouse_never_migrated_shows_every_file_as_new(engine, tmp_path, monkeypatch, capsys):
    """Found by a README-only trial: on a warehouse started but never migrated, files status printed
    a traceback (quarantine.records does not exist) instead of what the next run does."""
    from smarketing import cli, warehouse
    from tests.conftest import reset_warehouse

    files_only_config(tmp_path, monkeypatch)
    with engine.begin() as conn:
        for schema in warehouse.SCHEMAS:
            conn.exec_driver_sql(f"drop schema if exists {schema} cascade")
    try:
        assert cli.main(["files", "status", "crm_leads"]) == 0
        assert capsys.readouterr().out.splitlines()[1:] == [
            "  leads_2026-05.csv: loads on the next run (new)", "  leads_2026-06.csv: loads on the next run (new)"]
    finally:
        reset_warehouse(engine)


def test_addresses_are_read_as_addresses_and_a_non_address_never_reaches_core(empty_warehouse, tmp_path,
                                                                               monkeypatch):
    """Found by trials: an address in angle brackets or with a zero-width space was exported as
    written, and an invalid address in a leads export reached core."""
    from smarketing import tasks

    files_only_config(tmp_path, monkeypatch)
    quality = (PATHS.root / "config" / "quality.yaml").read_text()
    (tmp_path / "config" / "quality.yaml").write_text(  # one bad row of five must not stop the file
        quality.replace("suites: {}", "suites: {file__leads: {max_failure_share: 0.5}}"))
    for old in (tmp_path / "leads").iterdir():
        old.unlink()
    (tmp_path / "leads" / "leads_2026-06.csv").write_text(
        "Lead ID;First contact;Channel;Landing page;E-mail\n"
        "L-1;02/06/2026;Web;/;<ada@example.com>\n"
        "L-2;02/06/2026;Web;/;Grace Hopper <grace@example.com>\n"
        "L-3;02/06/2026;Web;/;zw\u200bsp@example.com\u00a0\n"
        "L-4;02/06/2026;Web;/;mailto:linus@example.com\n"
        "L-5;02/06/2026;Web;/;not-an-address\n", encoding="utf-8")
    tasks.run_pipeline("addresses", date(2026, 6, 30))
    assert rows(empty_warehouse, "select email from core.person where email is not null order by 1") == [
        ("ada@example.com",), ("grace@example.com",), ("linus@example.com",), ("zwsp@example.com",)]
    assert rows(empty_warehouse, "select record_id, expectation from quarantine.records") == [
        ("L-5", "email_valid")]


def test_an_amount_without_a_currency_is_quarantined_not_labelled_eur(empty_warehouse, tmp_path, monkeypatch):
    """Every file-drop amount was labelled EUR; a drop now names its currency (a column or a constant)."""
    from smarketing import tasks

    files_only_config(tmp_path, monkeypatch)
    drops = (tmp_path / "config" / "file_drops.yaml").read_text()
    (tmp_path / "config" / "file_drops.yaml").write_text(drops.replace("    constants: {currency: EUR}", ""))
    quality = (PATHS.root / "config" / "quality.yaml").read_text()
    (tmp_path / "config" / "quality.yaml").write_text(
        quality.replace("suites: {}", "suites: {file__deals: {max_failure_share: 1}}"))
    tasks.run_pipeline("no-currency", date(2026, 6, 30))
    assert rows(empty_warehouse, "select record_id, expectation from quarantine.records where entity = 'deals'"
                                 " order by 1") == [("L-1001", "currency_known"), ("L-1003", "currency_known"),
                                                    ("L-1007", "currency_known")]
    assert rows(empty_warehouse, "select count(*) from core.opportunity") == [(0,)]


def test_a_won_moment_keeps_its_instant_and_a_won_day_its_day(empty_warehouse, tmp_path):
    """A won or lost moment is kept as the instant it names (the drop's time zone reads it); its
    day is taken in the reporting time zone by staging (tests/integration/test_file_deal_days.py),
    so the loader sets no close date for it. A date alone is that day: D3 closes 30 June."""
    folder = tmp_path / "deals"
    folder.mkdir()
    (folder / "deals.csv").write_text("id,won,lost,amount\nD1,06/30/2026 09:00 PM,,100\nD2,,05/31/2026 11:00 PM,50\n"
                                      "D3,06/30/2026,,75\n")
    (tmp_path / "file_drops.yaml").write_text(
        f"drops:\n  deals:\n    entity: deals\n    location: {folder}\n"
        "    columns: {won: won_date, lost: lost_date, amount: amount}\n    constants: {currency: USD}\n"
        "    date_format: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']\n    timezone: America/New_York\n")
    (drop,) = load_drops(tmp_path / "file_drops.yaml")
    load_drop(empty_warehouse, drop, "run-1")
    assert rows(empty_warehouse, "select record_id, payload ->> 'won_date', payload ->> 'close_date'"
                                 " from raw.file__deals order by 1") == [
        ("D1", "2026-07-01T01:00:00+00:00", None), ("D2", None, None),
        ("D3", "2026-06-30T04:00:00+00:00", "2026-06-30")]


def test_the_sql_date_keeps_its_time_of_day(empty_warehouse, tmp_path, monkeypatch):
    """Found by a trial: an SQL at 00:45 in Berlin on 1 June became 31 May 00:00, before the MQL."""
    from datetime import UTC, datetime

    from smarketing import tasks

    files_only_config(tmp_path, monkeypatch)
    config = tmp_path / "config" / "file_drops.yaml"
    config.write_text(config.read_text().replace("      E-mail: email\n", "      E-mail: email\n      SQL: sql_date\n")
                      .replace('    date_format: "%d/%m/%Y"\n  crm_closed_deals',
                               '    date_format: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]\n    timezone: Europe/Berlin\n'
                               '  crm_closed_deals'))
    for old in (tmp_path / "leads").iterdir():
        old.unlink()
    (tmp_path / "leads" / "leads_2026-05.csv").write_text(
        "Lead ID;First contact;Channel;Landing page;E-mail;SQL\nL-1;03/05/2026;Web;/;a@example.com;01/06/2026 00:45\n")
    tasks.run_pipeline("sql-time", date(2026, 6, 30))
    assert rows(empty_warehouse, "select sql_at from core.person") == [(datetime(2026, 5, 31, 22, 45, tzinfo=UTC),)]


def test_a_file_none_of_whose_rows_parse_is_rejected_naming_the_first_reason(empty_warehouse, drops):
    """Found by a trial: a date_format typo quarantined every row of a file, and the summary said the
    file was loaded."""
    typo = replace(drops["leads"], date_format=("%d.%m.%Y",))
    stats = load_drop(empty_warehouse, typo, "run-1")
    assert set(stats.rejected) == {"leads_2026-05.csv", "leads_2026-06.csv"} and stats.files_loaded == 0
    assert ("every one of its 5 rows failed, the first as \"line 2: field 'first_contact_date' matches no date"
            " format of the drop (%d.%m.%Y)\"; are the drop's date_format") in stats.rejected["leads_2026-05.csv"]
    assert rows(empty_warehouse, "select count(*) from quarantine.records") == [(0,)]


def test_a_utf8_file_in_a_latin1_drop_is_rejected_not_garbled(empty_warehouse, drops):
    """Found by a trial: "Дмитрий" loaded as "Ð”Ð¼Ð¸Ñ‚Ñ€Ð¸Ð¹" from a UTF-8 file in a cp1252 drop."""
    folder = Path(drops["leads"].location)
    (folder / "leads_2026-07.csv").write_text("Lead ID;First contact;Channel;Landing page;E-mail\n"
                                              "L-2001;01/07/2026;Дмитрий;/;d@example.com\n", encoding="utf-8")
    stats = load_drop(empty_warehouse, replace(drops["leads"], encoding="cp1252"), "run-1")
    assert list(stats.rejected) == ["leads_2026-07.csv"] and stats.files_loaded == 2
    assert "is UTF-8, not cp1252" in stats.rejected["leads_2026-07.csv"]
