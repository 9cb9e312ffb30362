"""The model runner against the warehouse: a new mart is one SQL file; upserts touch only what changed."""

import logging
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from smarketing import models


def mart(tmp_path: Path, sql: str) -> models.Model:
    path = tmp_path / "deals_by_stage.sql"
    path.write_text(sql)
    return models.parse(path, "marts")


def test_a_new_mart_is_one_sql_file_and_bi_reads_it(empty_warehouse, login_as, tmp_path, caplog):
    new = mart(tmp_path, "-- grain: one row per stage\n-- key: stage_name\n-- write: replace\n"
                         "select stage, count(*) as deals from (values ('won'), ('won'), ('lost')) as d (stage)"
                         " group by stage\n")
    with pytest.raises(models.ModelError, match=r"deals_by_stage.sql: the key stage_name is not a column"), \
            empty_warehouse.begin() as conn:
        models.run(conn, [new], {})
    new = mart(tmp_path, "-- grain: one row per stage\n-- key: stage\n-- write: replace\n"
                         "select stage, count(*) as deals from (values ('won'), ('won'), ('lost')) as d (stage)"
                         " group by stage\n")
    with empty_warehouse.begin() as conn:
        assert models.run(conn, [new], {}) == {"deals_by_stage": 2}
        assert models.run(conn, [new], {}) == {"deals_by_stage": 2}  # again: replaced, not added to
    with login_as("smarketing_bi") as conn:
        assert sorted(conn.execute("select stage, deals from marts.deals_by_stage").fetchall()) == [
            ("lost", 1), ("won", 2)]
    with empty_warehouse.connect() as conn:
        assert conn.execute(text(
            "select array_agg(a.attname::text) from pg_index as i join pg_attribute as a"
            " on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
            " where i.indrelid = 'marts.deals_by_stage'::regclass and i.indisprimary")).scalar() == ["stage"]

    grown = mart(tmp_path, "-- grain: one row per stage\n-- key: stage\n-- write: replace\n"
                           "select stage, count(*) as deals, sum(amount) as amount"
                           " from (values ('won', 10.5), ('lost', 2)) as d (stage, amount) group by stage\n")
    with caplog.at_level(logging.WARNING), empty_warehouse.begin() as conn:
        models.run(conn, [grown], {})
    assert ("marts.deals_by_stage: its select or key changed (columns stage text, deals bigint, amount numeric,"
            " key stage; the table has stage text, deals bigint, key stage): the table is made again") in caplog.text
    with login_as("smarketing_bi") as conn:
        assert sorted(conn.execute("select stage, deals, amount from marts.deals_by_stage").fetchall()) == [
            ("lost", 1, 2), ("won", 1, 10.5)]
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("drop table marts.deals_by_stage")


def test_a_changed_type_or_key_makes_the_table_again_and_a_bad_select_names_its_file(empty_warehouse, tmp_path):
    """Found: a column whose type changed within its family (a count made a ratio) was cast back to
    the old type (BI read 0, 1, 2 for 0.33, 1.33, 1.67), a changed key was ignored, and a row the
    table refused failed the run with a message that named no file (and was retried)."""
    header = "-- grain: one row per stage\n-- key: {key}\n-- write: replace\n"
    rows = "from (values ('won', 'a'), ('won', 'b'), ('lost', 'a')) as d (stage, owner)"
    with empty_warehouse.begin() as conn:
        models.run(conn, [mart(tmp_path, header.format(key="stage") + f"select stage, count(*) as deals {rows}"
                                                                       " group by stage\n")], {})
        models.run(conn, [mart(tmp_path, header.format(key="stage") + f"select stage, count(*) / 3.0 as deals {rows}"
                                                                       " group by stage\n")], {})
        assert sorted(conn.exec_driver_sql("select stage, round(deals, 2) from marts.deals_by_stage").all()) == [
            ("lost", Decimal("0.33")), ("won", Decimal("0.67"))]
        models.run(conn, [mart(tmp_path, header.format(key="stage, owner")
                               + f"select stage, owner, count(*) as deals {rows} group by stage, owner\n")], {})
        assert conn.exec_driver_sql(
            "select count(*) from pg_index where indrelid = 'marts.deals_by_stage'::regclass and indisprimary"
            " and indnkeyatts = 2").scalar() == 1
    bad = mart(tmp_path, header.format(key="stage") + "select null::text as stage, 1 as deals\n")
    with pytest.raises(models.ModelError, match=r"deals_by_stage.sql: null value in column \"stage\""), \
            empty_warehouse.begin() as conn:
        models.run(conn, [bad], {})
    with empty_warehouse.begin() as conn:
        assert conn.exec_driver_sql("select count(*) from marts.deals_by_stage").scalar() == 3  # as it was
        conn.exec_driver_sql("drop table marts.deals_by_stage")


def test_a_mart_whose_file_is_gone_is_named_and_left_for_its_readers(empty_warehouse, caplog):
    from datetime import date

    from smarketing.kpis import refresh_marts

    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("create table marts.zz_retired (k int primary key)")
    with caplog.at_level(logging.WARNING):
        refresh_marts(empty_warehouse, date(2026, 6, 30))
    assert "marts marts.zz_retired have no model in sql/marts/ any more and were not refreshed" in caplog.text
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("drop table marts.zz_retired")


def test_a_new_warehouse_makes_its_marts_without_a_warning(empty_warehouse, caplog):
    """Found by a trial: a fresh clone's first run warned eight times that marts were 'made again'
    (the migrations' tables, still empty, against the selects' types): noise for a new user."""
    from datetime import date

    from smarketing.kpis import refresh_marts

    with caplog.at_level(logging.WARNING):
        refresh_marts(empty_warehouse, date(2026, 6, 30))
    assert "made again" not in caplog.text


def test_only_a_first_load_goes_in_without_indexes_readers_keep_reading_later_runs(empty_warehouse, tmp_path):
    """A table that held rows when its model began is written with its indexes kept, even when the
    model's scope deletes every row first: a BI reader goes on reading the rows before this merge
    instead of waiting on a rebuilt index until the merge commits. Only an empty table is loaded
    without its secondary indexes and foreign keys (models.bulk_load)."""
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("create table core.scratch (id int primary key, person_id bigint references core.person,"
                             " note text)")
        conn.exec_driver_sql("create index scratch_note on core.scratch (note)")
    path = tmp_path / "scratch.sql"
    path.write_text("-- grain: one row per id\n-- key: id\n-- write: scoped\n-- scope: true\n"
                    "select id, null::bigint as person_id, 'run ' || cast(:run as text) as note"
                    " from generate_series(1, 3) as id\n")
    model = models.parse(path, "core")

    def index_oid(conn):
        return conn.exec_driver_sql("select 'core.scratch_note'::regclass::oid").scalar()

    with empty_warehouse.begin() as conn:
        first = index_oid(conn)
        assert models.write(conn, model, {"run": 1}) == 3
        assert index_oid(conn) != first  # the first load made the index again after its insert
    with empty_warehouse.begin() as conn:
        second = index_oid(conn)
        assert models.write(conn, model, {"run": 2}) == 3
        assert index_oid(conn) == second
        with empty_warehouse.connect() as reader:
            reader.exec_driver_sql("set lock_timeout = '2s'")
            assert reader.exec_driver_sql("select note from core.scratch where note = 'run 1'").scalars().all() == [
                "run 1"] * 3
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select count(*), min(note) from core.scratch").one() == (3, "run 2")
        assert conn.exec_driver_sql("select count(*) from pg_constraint where conrelid = 'core.scratch'::regclass"
                                    " and contype = 'f'").scalar() == 1


def test_a_first_load_inserts_without_on_conflict_and_still_refuses_a_key_given_twice(empty_warehouse, tmp_path):
    """Into an empty table an upsert is a plain insert (nothing to conflict with): the rows are the
    ones a later upsert keeps, and a select that gives one key twice fails naming its file, as the
    upsert's 'cannot affect row a second time' does, instead of keeping one of the two."""
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("create table core.scratch (id int primary key, note text, updated_at timestamptz)")
    path = tmp_path / "scratch.sql"
    header = "-- grain: one row per id\n-- key: id\n-- write: upsert\n"
    path.write_text(header + "select id, 'note ' || (id % :m) as note from generate_series(1, 4) as id\n")
    model = models.parse(path, "core")
    with empty_warehouse.begin() as conn:
        assert models.write(conn, model, {"m": 2}) == 4
        assert conn.exec_driver_sql("select count(*) from core.scratch where updated_at is null").scalar() == 4
        assert models.write(conn, model, {"m": 3}) == 3  # ids 2, 3 and 4 changed their note
        assert conn.exec_driver_sql("select array_agg(note order by id) from core.scratch").scalar() == [
            "note 1", "note 2", "note 0", "note 1"]
        conn.exec_driver_sql("delete from core.scratch")
    path.write_text(header + "select id % 3 as id, 'twice' as note from generate_series(1, 4) as id\n")
    with pytest.raises(models.ModelError, match=r"scratch.sql: .*(duplicate key|second time)"), \
            empty_warehouse.begin() as conn:
        models.run(conn, [models.parse(path, "core")], {})
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("drop table core.scratch")
