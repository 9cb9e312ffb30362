"""The model runner's header and order, without a warehouse."""

from pathlib import Path

import pytest

from smarketing import models
from smarketing.models import ModelError, Step


def model(tmp_path: Path, name: str, sql: str, schema: str = "marts") -> models.Model:
    path = tmp_path / f"{name}.sql"
    path.write_text(sql)
    return models.parse(path, schema)


def test_the_header_says_what_the_model_is(tmp_path):
    m = model(tmp_path, "deals_by_rep", (
        "-- The deals each rep closed.\n"
        "-- grain: one row per owner\n"
        "--     and month\n"
        "-- key: owner_id, month\n"
        "-- write: replace\n"
        "select owner_id, month from core.opportunity\n"))
    assert (m.target, m.write, m.key, m.grain) == ("marts.deals_by_rep", "replace", ("owner_id", "month"),
                                                   "one row per owner and month")
    assert m.relations() == {"core.opportunity"}


@pytest.mark.parametrize(("header", "message"), [
    ("-- grain: x\n-- key: k\n", "no 'write:' field"),
    ("-- grain: x\n-- key: k\n-- write: replaced\n", "'write: replaced' is not one of"),
    ("-- grain: x\n-- kee: k\n-- write: replace\n", "unknown header field 'kee'"),
    ("-- grain: x\n-- write: upsert\n", "'write: upsert' needs a 'key:' field"),
    ("-- grain: x\n-- write: scoped\n", "needs a 'scope:' field"),
    ("-- key: k\n-- write: replace\n", "no 'grain:' field"),
    ("-- grain: x\n-- key: k\n-- key: j\n-- write: replace\n", "'key' is given twice"),
    ("-- grain: x\n-- key: k\n-- write: upsert\n-- scope: k = 1\n", "'scope:' only applies to 'write: scoped'"),
])
def test_a_header_mistake_is_named_with_its_file(tmp_path, header, message):
    with pytest.raises(ModelError, match=message) as raised:
        model(tmp_path, "broken", header + "select 1 as k\n")
    assert "broken.sql" in str(raised.value)


def test_one_select_per_file(tmp_path):
    with pytest.raises(ModelError, match="one select per model"):
        model(tmp_path, "two", "-- grain: x\n-- key: k\n-- write: replace\nselect 1 as k;\ndelete from core.person\n")


def test_a_model_runs_after_the_models_it_reads_whatever_their_names(tmp_path):
    summary = model(tmp_path, "a_summary", "-- grain: x\n-- key: k\n-- write: replace\nselect k from marts.z_detail\n")
    detail = model(tmp_path, "z_detail", "-- grain: x\n-- key: k\n-- write: replace\nselect k from core.person\n")
    assert [m.name for m in models.order([summary, detail])] == ["z_detail", "a_summary"]


def test_a_read_through_a_view_waits_for_the_tables_behind_it(tmp_path):
    reader = model(tmp_path, "a_reader", "-- grain: x\n-- key: k\n-- write: replace\n"
                                         "select k from core.active_person\n")
    writer = model(tmp_path, "b_writer", "-- grain: x\n-- key: k\n-- write: update\n-- target: core.person\n"
                                         "select 1 as k\n", schema="core")
    assert [m.name for m in models.order([reader, writer])] == ["a_reader", "b_writer"]
    assert [m.name for m in models.order([reader, writer], {"core.active_person": {"core.person"}})] == [
        "b_writer", "a_reader"]


def test_before_reads_the_earlier_state_and_temp_tables_are_made_before_they_grow(tmp_path):
    upsert = model(tmp_path, "a_opportunity", "-- grain: x\n-- key: k\n-- write: upsert\n"
                                              "select k from staging.deals\n", schema="core")
    scope = model(tmp_path, "scope_ids", "-- before: a_opportunity\n-- write: temp\n"
                                         "select k from core.a_opportunity\n", schema="core")
    grow = model(tmp_path, "a_more_ids", "-- target: scope_ids\n-- write: append\n"
                                         "select k from core.a_opportunity\n", schema="core")
    user = model(tmp_path, "a_user", "-- grain: x\n-- key: k\n-- write: upsert\nselect k from scope_ids\n",
                 schema="core")
    assert [m.name for m in models.order([user, upsert, grow, scope])] == [
        "scope_ids", "a_opportunity", "a_more_ids", "a_user"]


def test_steps_in_python_take_their_place_by_what_they_declare(tmp_path):
    reader = model(tmp_path, "reader", "-- grain: x\n-- key: k\n-- write: upsert\nselect k from core.person_identity\n",
                   schema="core")
    step = Step(name="identity", run=lambda conn, params: None, reads=frozenset({"staging.int_person_records"}),
                writes=frozenset({"core.person_identity"}))
    assert [n.name for n in models.order([reader, step])] == ["identity", "reader"]


def test_a_circle_is_named(tmp_path):
    a = model(tmp_path, "a", "-- grain: x\n-- key: k\n-- write: replace\nselect k from marts.b\n")
    b = model(tmp_path, "b", "-- grain: x\n-- key: k\n-- write: replace\nselect k from marts.a\n")
    with pytest.raises(ModelError, match="a waits for b; b waits for a"):
        models.order([a, b])
    with pytest.raises(ModelError, match="'before: c' names no model"):
        models.order([model(tmp_path, "d", "-- before: c\n-- write: temp\nselect 1 as k\n")])


def test_the_shipped_models_parse_and_have_an_order():
    """Every file under sql/core and sql/marts is a model with a valid header; core's order puts
    each scope before what it scopes and identity resolution before what reads persons."""
    from smarketing.transform import IDENTITY, REMOVE_OPPORTUNITIES

    marts = [m.name for m in models.order(models.load("marts"))]
    assert marts.index("funnel") < marts.index("lead_velocity") < marts.index("kpi_summary")
    core = [n.name for n in models.order([IDENTITY, REMOVE_OPPORTUNITIES, *models.load("core")],
                                         {"core.active_person": {"core.person"}})]
    assert core.index("identity") < core.index("merge_persons") < core.index("opportunity") \
        < core.index("opportunity_persons") < core.index("person_records") < core.index("person_attributes") \
        < core.index("lifecycle_event") < core.index("person_lifecycle_history")
    assert core.index("merge_email_events") < core.index("email_event") < core.index("touchpoint")
    assert core.index("snapshot_days") < core.index("opportunity_daily")
    assert core.index("opportunity") < core.index("opportunity_stage_history") < core.index("opportunity_daily")
    assert core.index("merge_persons") < core.index("opportunity") < core.index("removed_opportunities") \
        < min(core.index("opportunity_persons"), core.index("opportunity_stage_history"), core.index("activity"))


@pytest.mark.parametrize(("folder", "header", "message"), [
    ("marts", "-- grain: x\n-- key: k\n-- target: nurture.manual_suppression\n-- write: replace\n",
     "a model in sql/marts/ writes marts.*, not nurture.manual_suppression"),
    ("core", "-- grain: x\n-- key: k\n-- write: replace\n", "'write: replace' .* is for marts only"),
    ("core", "-- grain: x\n-- target: core.person\n-- write: append\n", "is for this merge's temporary tables"),
    ("marts", "-- grain: x\n-- key: k\n-- target: marts.x; drop table core.person\n-- write: replace\n",
     "'x; drop table core.person' is not a plain lowercase identifier"),
])
def test_a_model_writes_only_its_own_schema(tmp_path, folder, header, message):
    """Found: a mart could name nurture.manual_suppression as its target, and the runner dropped
    and made it again from the mart's select (a phone suppression was lost)."""
    with pytest.raises(ModelError, match=message):
        model(tmp_path, "intruder", header + "select 1 as k\n", schema=folder)


def test_a_second_statement_cannot_hide_behind_a_string_and_a_semicolon_in_one_is_fine(tmp_path):
    """Found: '--' inside a string literal made the rest of the line look like a comment, so a
    'commit; drop table ...' after it passed the one-statement check and ran."""
    header = "-- grain: x\n-- key: k\n-- write: replace\n"
    with pytest.raises(ModelError, match="one select per model"):
        model(tmp_path, "sneaky", header + "select 1 as k, '--' as x) as q; commit; drop table meta.canary;"
                                           " select * from (select 1 as k, '--' as x\n")
    fine = model(tmp_path, "fine", header + "select 1 as k, string_agg(channel, '; ') as channels from marts.b\n")
    assert fine.relations() == {"marts.b"}


def test_a_read_in_capitals_or_quotes_still_orders_the_models(tmp_path):
    """Found: 'from MARTS.detail' and 'from "marts"."detail"' were not seen as reads, so the
    summary read last run's detail."""
    detail = model(tmp_path, "z_detail", "-- grain: x\n-- key: k\n-- write: replace\nselect 1 as k\n")
    for reference in ("MARTS.Z_DETAIL", '"marts"."z_detail"', "marts . z_detail"):
        summary = model(tmp_path, "a_summary",
                        f"-- grain: x\n-- key: k\n-- write: replace\nselect k from {reference}\n")
        assert [m.name for m in models.order([summary, detail])] == ["z_detail", "a_summary"], reference
