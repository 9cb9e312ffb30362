"""The model runner against the warehouse: a new mart is one SQL file; upserts touch only what changed."""

import logging
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
    assert "marts.deals_by_stage: the select's columns (stage, deals, amount) differ" in caplog.text
    with login_as("smarketing_bi") as conn:
        assert sorted(conn.execute("select stage, deals, amount from marts.deals_by_stage").fetchall()) == [
            ("lost", 1, 2), ("won", 1, 10.5)]
    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("drop table marts.deals_by_stage")
