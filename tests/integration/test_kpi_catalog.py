"""The KPI catalog and the warehouse roles."""

import re

import psycopg
import pytest

from smarketing.config import PATHS


def catalog() -> dict[str, list[str]]:
    """mart -> the columns docs/kpis.md documents for it, in order."""
    documented, current = {}, None
    for line in (PATHS.root / "docs" / "kpis.md").read_text().splitlines():
        heading = re.match(r"^### marts\.(\w+)$", line)
        if heading or line.startswith("#"):
            current = documented.setdefault(heading.group(1), []) if heading else None
            continue
        row = re.match(r"^\| (\w+) \| .+ \|$", line)
        if row and current is not None and row.group(1) != "column":
            current.append(row.group(1))
    return documented


def test_every_mart_column_is_documented_and_nothing_else(empty_warehouse):
    """The columns a mart's select writes (the only place they are named) against docs/kpis.md."""
    from datetime import date

    from smarketing import models
    from smarketing.kpis import kpi_settings, mart_params

    params = mart_params(date(2026, 6, 30), kpi_settings())
    written = {}
    with empty_warehouse.connect() as conn, conn.begin() as transaction:
        for mart in models.order(models.load("marts"), models.view_sources(conn)):
            if not mart.is_temp:
                written[mart.name] = models.columns(conn, mart, params)
            models.write(conn, mart, params)  # a mart new to this warehouse may be read by the next one
        transaction.rollback()
    assert catalog() == written


def test_the_nurture_list_runs_the_report_shows_are_documented(engine):
    lines = (PATHS.root / "docs" / "kpis.md").read_text().split("### nurture.list_runs", 1)[1].splitlines()
    documented = [m.group(1) for m in (re.match(r"^\| (\w+) \| .+ \|$", line) for line in lines)
                  if m and m.group(1) != "column"]
    with engine.connect() as conn:
        columns = conn.exec_driver_sql(
            "select column_name from information_schema.columns where table_schema = 'nurture'"
            " and table_name = 'list_runs' order by ordinal_position").scalars().all()
    assert documented == columns


def can_read(conn, table):
    try:
        conn.execute(f"select count(*) from {table}").fetchone()
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


@pytest.mark.parametrize(("role", "readable", "closed"), [
    ("smarketing_bi", ["marts.funnel", "marts.kpi_summary"],
     ["nurture.list_members", "core.person", "raw.hubspot__contacts", "quarantine.records", "meta.runs"]),
    ("smarketing_marketing", ["marts.funnel", "nurture.list_members", "nurture.suppressed"],
     ["core.person", "raw.salesforce__leads", "staging.int_person_records"]),
    ("smarketing_loader", ["raw.hubspot__contacts"],
     ["core.person", "marts.funnel", "nurture.list_members", "nurture.manual_suppression", "meta.sync_state",
      "meta.schema_migrations", "staging.int_person_records"]),
])
def test_roles_read_only_what_they_may(login_as, role, readable, closed):
    with login_as(role) as conn:
        assert {t: can_read(conn, t) for t in readable + closed} == {
            **{t: True for t in readable}, **{t: False for t in closed}}


def test_the_loader_lands_rows_and_changes_nothing_else(login_as, empty_warehouse):
    """Found: a loader login emptied nurture.manual_suppression, moved extract cursors and deleted
    applied migrations. It appends raw rows and registers batches, and no more."""
    with login_as("smarketing_bi") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
                     " values ('x', now(), '{}', gen_random_uuid(), now())")
    with login_as("smarketing_loader") as conn:
        batch = conn.execute("insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new)"
                             " values (gen_random_uuid(), 'ext-1', 'hubspot', 'contacts', 1, 1)"
                             " returning batch_id").fetchone()[0]
        conn.execute("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
                     " values ('x', now(), '{}', %s, now())", (batch,))
        with empty_warehouse.begin() as owner:  # validation checks the batch; it is closed from then on
            owner.exec_driver_sql("update meta.batches set validated_at = now() where batch_id = %s", (batch,))
        with pytest.raises(psycopg.errors.CheckViolation, match="validation has already checked"):
            conn.execute("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
                         " values ('late', now(), '{\"email\": \"bad@@evil\"}', %s, now())", (batch,))
        fresh = conn.execute("insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new)"
                             " values (gen_random_uuid(), 'ext-1', 'hubspot', 'contacts', 2, 2)"
                             " returning batch_id").fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match="validation has already checked"):
            conn.execute("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
                         " values ('y', now(), '{}', %s, now()), ('late', now(), '{}', %s, now())", (fresh, batch))
        conn.execute("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
                     " values ('y', now(), '{}', %s, now())", (fresh,))
        for statement in ("delete from nurture.manual_suppression", "truncate marts.funnel",
                          "update meta.sync_state set cursor_at = null",
                          "delete from meta.schema_migrations where version = 16",
                          "delete from raw.hubspot__contacts", "update meta.batches set validated_at = now()",
                          "insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new,"
                          " validated_at) values (gen_random_uuid(), 'ext-2', 'hubspot', 'contacts', 1, 1, now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_a_row_that_joins_a_batch_while_it_is_checked_waits_for_the_next_check(login_as, empty_warehouse,
                                                                              warehouse_url, caplog):
    """Found by a README-only trial: a loader held a row for a pending batch in an open
    transaction while validation checked that batch without it, then committed; the trigger had
    looked at the batch before its check, and a full refresh promoted the row into core unchecked.
    The batch's rows are counted when it is checked and again when it is promoted: it goes back to
    validation instead, which quarantines the row."""
    from datetime import date

    from sqlalchemy import text

    from smarketing.quality import validate_pending
    from smarketing.transform import merge_core

    contact = ('{{"properties": {{"email": "{}", "firstname": "A", "lastname": "B",'
               ' "createdate": "2026-05-01T10:00:00Z", "lifecyclestage": "lead"}}}}')
    insert = ("insert into raw.hubspot__contacts (record_id, version_at, payload, batch_id, extracted_at)"
              " values (%s, '2026-05-01T10:00:00Z', %s, %s, now())")
    with login_as("smarketing_loader") as loader:
        batch = loader.execute("insert into meta.batches (batch_id, run_id, source, entity, rows_received, rows_new)"
                               " values (gen_random_uuid(), 'ext-1', 'hubspot', 'contacts', 2, 2)"
                               " returning batch_id").fetchone()[0]
        loader.execute(insert, ("c1", contact.format("ann@example.com"), batch))
        loader.execute("begin")
        loader.execute(insert, ("c2", contact.format("not an address"), batch))
        validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=1.0)
        loader.execute("commit")
    for full in (False, True):  # the first sends the batch back, saying so; neither promotes it
        with caplog.at_level("WARNING", logger="smarketing.transform"):
            merge_core(empty_warehouse, date(2026, 6, 30), full=full)
        with empty_warehouse.connect() as conn:
            assert conn.execute(text("select count(*) from core.person_identity")).scalar() == 0
            assert conn.execute(text("select validated_at from meta.batches")).scalar() is None
    assert caplog.text.count(f"raw.hubspot__contacts, batch {batch}: 2 rows, 1 when validation checked it") == 1
    validate_pending(empty_warehouse, warehouse_url, "run-2", [("hubspot", "contacts")], max_failure_share=1.0)
    merge_core(empty_warehouse, date(2026, 6, 30))
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select source_record_id from core.person_identity")).scalars().all() == ["c1"]
        assert conn.execute(text("select record_id, expectation from quarantine.records")).all() == [
            ("c2", "email_valid")]


def test_create_login_gives_a_bi_tool_its_own_user(empty_warehouse, admin_url, monkeypatch):
    """Run by an administrator's connection (the pipeline's own may not make logins)."""
    import psycopg

    from smarketing.cli import main

    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", admin_url)
    monkeypatch.delenv("SMARKETING_NEW_LOGIN_PASSWORD", raising=False)
    assert main(["warehouse", "create-login", "metabase_test", "--role", "smarketing_bi"]) == 2
    monkeypatch.setenv("SMARKETING_NEW_LOGIN_PASSWORD", "pw-from-env")
    assert main(["warehouse", "create-login", "metabase_test", "--role", "smarketing_bi"]) == 0
    assert main(["warehouse", "create-login", "metabase_test", "--role", "smarketing_bi"]) == 0  # again: no error
    with psycopg.connect(admin_url, autocommit=True) as conn:
        roles = [r for (r,) in conn.execute(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
            " join pg_roles u on u.oid = m.member where u.rolname = 'metabase_test'")]
        conn.execute("drop role metabase_test")
    assert roles == ["smarketing_bi"]
