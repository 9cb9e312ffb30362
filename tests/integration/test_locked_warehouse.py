"""A locked warehouse and no secret or personal data outside it, tried as someone on the same host
would: every connection authenticates, the server keeps its port and leaves the user's folders
alone, tokens and personal values never reach errors or logs, concurrent loads stay clean."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading

import psycopg
import pytest
from sqlalchemy.engine import make_url

from smarketing import cli, embedded, warehouse
from smarketing.config import ConfigError, with_database
from smarketing.demo.fakes import FakeHubSpot, Fault
from smarketing.sources.http_client import ApiError, RetryPolicy
from tests.conftest import SERVER
from tests.fixtures.drops import leads_drop
from tests.fixtures.ownership import owned_by_others

TOKEN = "pat-na1-PLANTED-SECRET-4711"


def parts(warehouse_url: str) -> dict:
    url = make_url(warehouse_url)
    return {"host": url.host, "port": url.port, "dbname": url.database}


@pytest.mark.parametrize("user", ["postgres", "smarketing_owner"])
def test_a_connection_without_the_password_is_refused(warehouse_url, user):
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(**parts(warehouse_url), user=user, passfile=os.devnull, connect_timeout=5).close()


def test_the_pipeline_logs_in_as_its_owner_and_holds_no_password_nor_superuser(warehouse_url, capsys):
    assert make_url(warehouse_url).password is None
    with psycopg.connect(warehouse_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("smarketing_owner",)
        assert conn.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles"
                            " where rolname = current_user").fetchone() == (False, False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("copy (select 1) to program 'id'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create role sneaky superuser")
    assert cli.main(["warehouse", "url"]) == 0
    printed = capsys.readouterr().out
    for line in embedded.password_file(SERVER).read_text().splitlines():
        secret = line.rsplit(":", 1)[1].strip()
        assert secret and secret not in printed




def test_a_warehouse_an_older_version_built_as_superuser_is_handed_to_the_owner(warehouse_url):
    """Before this version the pipeline ran as superuser; bootstrap hands its objects over and
    refuses an object of any other role, naming it."""
    database = "smarketing_handover"
    owner_url = embedded.fresh_database(SERVER, database)
    admin = embedded.admin_url(SERVER, database)
    legacy = warehouse.engine(admin.replace("postgresql://", "postgresql+psycopg://"))
    warehouse.migrate(legacy)
    legacy.dispose()
    with psycopg.connect(admin) as conn:  # as an older version left it: the superuser owns it all
        assert {owner for _, _, owner in owned_by_others(conn)} == {"postgres"}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("drop role if exists legacy_loader")
        conn.execute("create role legacy_loader login password 'test-only-password' in role smarketing_loader")
        conn.execute("grant create on schema raw to legacy_loader")
        conn.execute("set role legacy_loader")
        conn.execute("create view raw.innocent as select 1 as x")
    try:
        with pytest.raises(RuntimeError, match="raw.innocent is owned by role legacy_loader"):
            embedded.bootstrap(SERVER, database)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("drop view raw.innocent")
        embedded.bootstrap(SERVER, database)
        with psycopg.connect(owner_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            assert owned_by_others(conn) == []
        owner = warehouse.engine(owner_url)
        assert warehouse.migrate(owner) == []
        with owner.begin() as conn:  # what a merge does to a table: only its owner may
            conn.exec_driver_sql("truncate raw.hubspot__contacts")
            conn.exec_driver_sql("analyze core.person")
        owner.dispose()
    finally:
        embedded.drop_database(SERVER, database)
        with psycopg.connect(embedded.admin_url(SERVER), autocommit=True) as conn:
            conn.execute("drop role if exists legacy_loader")


def test_a_created_login_needs_its_password(empty_warehouse, warehouse_url, monkeypatch):
    monkeypatch.setenv("SMARKETING_NEW_LOGIN_PASSWORD", "correct horse battery")
    # the pipeline's own connection is no administrator: it may not make logins, and says who can
    assert cli.main(["warehouse", "create-login", "bi_tester", "--role", "smarketing_bi"]) == 2
    # on the embedded warehouse the command uses the server's superuser
    monkeypatch.delenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE")
    monkeypatch.setenv("SMARKETING_WAREHOUSE_DIR", str(SERVER))
    assert cli.main(["warehouse", "create-login", "bi_tester", "--role", "smarketing_bi"]) == 0
    assert cli.main(["warehouse", "create-login", "smarketing_owner", "--role", "smarketing_bi"]) == 2
    for wrong in ("wrong", ""):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**parts(warehouse_url), user="bi_tester", password=wrong, passfile=os.devnull,
                            connect_timeout=5).close()
    with psycopg.connect(**parts(warehouse_url), user="bi_tester", password="correct horse battery",
                         passfile=os.devnull) as conn:
        assert conn.execute("select count(*) from marts.funnel").fetchone() == (0,)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the server runs as another user only"
                                                                          " when started as root")
def test_starting_leaves_the_users_folders_alone_and_keeps_its_port(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    data = private / "warehouse"
    before = {p: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path, private)}
    port = embedded.free_port()
    try:
        first = embedded.start(data, port=port)
        assert make_url(first).port == port
        embedded.stop(data)
        second = embedded.start(data)  # no port given: the one it had
        assert make_url(second).port == port
    finally:
        embedded.remove(data)
    assert {p: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path, private)} == before


def test_a_token_with_a_newline_is_refused_naming_the_connection_and_never_shown(monkeypatch, caplog):
    from smarketing.sources import get_source

    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps({"host": "http://127.0.0.1:9",
                                                                   "password": TOKEN + "\n"}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as raised:
        get_source("hubspot").extract("contacts", None).__next__()
    assert "hubspot_default" in str(raised.value) and "whitespace" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in caplog.text


def test_an_api_error_body_that_echoes_the_token_is_redacted(caplog):
    from smarketing.config import ConnectionInfo
    from smarketing.sources.hubspot import HubSpotSource

    fake = FakeHubSpot(token=TOKEN)
    fake.start()
    try:
        fake.inject(Fault(status=400, path="/crm/v3/objects/contacts", body=json.dumps(
            {"status": "error", "message": f"Invalid header Authorization: Bearer {TOKEN}"})))
        source = HubSpotSource(ConnectionInfo("hubspot_default", fake.url, password=TOKEN),
                               policy=RetryPolicy(max_attempts=1, base_delay=0, timeout=5))
        with pytest.raises(ApiError) as raised:
            next(source.extract("contacts", None))
    finally:
        fake.stop()
    assert "Invalid header Authorization" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in caplog.text


def test_retry_warnings_name_the_call_not_the_contact(caplog):
    from smarketing.config import ConnectionInfo
    from smarketing.sources.hubspot import HubSpotSource

    fake = FakeHubSpot(token="t")
    fake.start()
    try:
        fake.inject(Fault(status=503, path="/communication-preferences/v3/status/email/", times=1))
        source = HubSpotSource(ConnectionInfo("hubspot_default", fake.url, password="t"),
                               policy=RetryPolicy(max_attempts=3, base_delay=0, timeout=5))
        caplog.set_level(logging.DEBUG)  # urllib3 too logs each request's path, at DEBUG
        source.client.request("GET", "/communication-preferences/v3/status/email/jana.planted%40example.com")
    finally:
        fake.stop()
    assert "retrying" in caplog.text
    assert any(r.name == "urllib3.connectionpool" and "{email}" in r.getMessage() for r in caplog.records)
    assert "jana.planted" not in caplog.text and "status/email/{email}" in caplog.text


def test_a_headerless_file_is_rejected_without_showing_its_first_row(empty_warehouse, tmp_path):
    from smarketing.file_drops import load_drop

    drop = leads_drop(tmp_path, "L-1;03.05.2026;jana.planted@example.com\nL-2;04.05.2026;otto@example.com\n",
                      "    required: [first_contact_date]\n    columns: {Datum: first_contact_date}\n")
    reason = load_drop(empty_warehouse, drop, "run-1").rejected["export.csv"]
    assert "export.csv" in reason and "Lead ID" in reason and "planted" not in reason
    with empty_warehouse.connect() as conn:
        reasons = conn.exec_driver_sql("select reason from meta.file_loads").scalars().all()
    assert reasons and not any("planted" in r for r in reasons)


def test_a_bad_value_is_quarantined_naming_file_line_and_column_not_the_value(empty_warehouse, tmp_path):
    from smarketing.file_drops import load_drop

    drop = leads_drop(tmp_path, "Lead ID;Datum;E-Mail\nL-1;31.02.2026;jana.planted@example.com\n"
                                "L-2;04.05.2026;otto@example.com\n",
                      "    columns: {Datum: first_contact_date, E-Mail: email}\n"
                      "    date_format: '%d.%m.%Y'\n")
    stats = load_drop(empty_warehouse, drop, "run-1")
    assert (stats.rows_loaded, stats.rows_quarantined) == (1, 1)
    with empty_warehouse.connect() as conn:
        (reason,) = conn.exec_driver_sql("select reason from quarantine.records").scalars().all()
    assert "export.csv line 2" in reason and "first_contact_date" in reason and "31.02.2026" not in reason


def twice_at_once(work) -> list[Exception]:
    """Run ``work`` in two threads at once; return what they raised."""
    errors = []

    def run():
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_loads_of_one_drop_at_once_land_every_row_once(empty_warehouse, tmp_path):
    from smarketing.file_drops import load_drop

    rows = "\n".join(f"L-{n};04.05.2026" for n in range(2000))
    drop = leads_drop(tmp_path, f"Lead ID;Datum\n{rows}\n",
                      "    columns: {Datum: first_contact_date}\n    date_format: '%d.%m.%Y'\n")
    assert twice_at_once(lambda: load_drop(empty_warehouse, drop, "run-1")) == []
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select count(*), count(distinct record_id) from raw.file__leads").one() == (
            2000, 2000)
        assert conn.exec_driver_sql("select count(*) from meta.file_loads where status = 'loaded'").scalar() == 1


def test_two_first_merges_at_once_give_one_clean_result(empty_warehouse, fake_apis):
    from datetime import date

    from smarketing import tasks

    for system in ("hubspot", "salesforce"):
        tasks.extract(system, "run-1", date(2026, 6, 30))
    tasks.validate("run-1", date(2026, 6, 30))
    assert twice_at_once(lambda: tasks.merge("run-1", date(2026, 6, 30))) == []
    with empty_warehouse.connect() as conn:
        persons = conn.exec_driver_sql("select count(*) from core.person where merged_into_person_id is null").scalar()
        identities = conn.exec_driver_sql("select count(*), count(distinct (source, entity, source_record_id))"
                                          " from core.person_identity").one()
    assert persons > 100 and identities[0] == identities[1]


def test_data_docs_show_which_rows_failed_not_what_they_held(empty_warehouse, warehouse_url):
    from smarketing.quality import data_docs_dir, validate_pending
    from tests.integration.test_quality import contact, land

    land(empty_warehouse, "hubspot__contacts", [("good", contact(), None),
                                                 ("bad-1", contact(email="jana.planted@@example.com"), None)])
    validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=1.0)
    pages = "".join(p.read_text(errors="replace") for p in data_docs_dir().rglob("*.html"))
    assert "hubspot__contacts" in pages and "planted" not in pages
    with empty_warehouse.connect() as conn:  # quarantine, inside the warehouse, still says why
        (reason,) = conn.exec_driver_sql("select reason from quarantine.records").scalars().all()
    assert "email_valid" in reason


@pytest.mark.parametrize("statement", [
    "create view raw.innocent as select 1 as x",
    "create function meta.innocent() returns int language sql as 'select 1'",
    "create table staging.innocent (x int)",
    "create view core.person_mailbox_shadow as select * from core.person",
    "create function public.lower(text) returns text language sql as 'select $1'",
    "create schema innocent",
])
def test_the_loader_creates_nothing_the_transform_could_run(login_as, statement):
    """The escalation found: a loader login created a view calling its own function in raw; the next
    transform, run by a more privileged role, executed it."""
    with login_as("smarketing_loader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


PLANT = ("create function public.date_trunc(text, date) returns timestamp language sql"
         " as 'select pg_catalog.date_trunc($1, $2::timestamp)'")


def test_no_reader_can_plant_a_function_the_pipeline_would_pick(login_as, admin_url):
    """Found: a cluster upgraded from PostgreSQL 14 or older lets everyone create in ``public``, on
    every session's search path; a BI login's public.date_trunc(text, date) beat the built-in on a
    date and ran as the pipeline in the KPI step."""
    from smarketing import tasks

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("grant create on schema public to public")  # as such a cluster has it
    bi = login_as("smarketing_bi")
    # a trap inside the check itself: a format() that counts its calls (a sequence outlives a rollback)
    bi.execute("create sequence public.ran")
    bi.execute("grant usage on sequence public.ran to public")
    bi.execute("create function public.format(text, name) returns text language sql"
               " as 'select $1 || nextval(''public.ran'')'")
    warehouse.engine.cache_clear()
    with pytest.raises(ConfigError, match=r"every role \(PUBLIC\) may create objects in schema public"):
        tasks.migrate()
    assert cli.main(["migrate"]) == 1  # every command connects through the same check
    assert bi.execute("select is_called from public.ran").fetchone() == (False,), "the check ran planted code"
    bi.execute("drop function public.format(text, name)")
    bi.execute("drop sequence public.ran")
    embedded.bootstrap(SERVER, "smarketing_test")  # the administrator's script closes it
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        bi.execute(PLANT)
    tasks.migrate()

    with psycopg.connect(admin_url, autocommit=True) as conn:  # granted to one role by name
        conn.execute("grant create on schema public to test_smarketing_bi")
    bi.execute(PLANT)
    with pytest.raises(RuntimeError, match="role test_smarketing_bi may create objects in schema"):
        embedded.bootstrap(SERVER, "smarketing_test")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("revoke create on schema public from test_smarketing_bi")
    warehouse.engine.cache_clear()
    planted = r"function public.date_trunc\(text, date\) is owned by role test_smarketing_bi"
    with pytest.raises(ConfigError, match=planted):
        tasks.migrate()
    with pytest.raises(RuntimeError, match=r"public.date_trunc\(text,date\) is owned by role"):
        embedded.bootstrap(SERVER, "smarketing_test")
    bi.execute("drop function public.date_trunc(text, date)")
    embedded.bootstrap(SERVER, "smarketing_test")
    warehouse.engine.cache_clear()
    tasks.migrate()


def test_create_login_never_turns_a_warehouse_role_into_a_login(empty_warehouse, monkeypatch, admin_url,
                                                                 warehouse_url, capsys):
    """Found: `create-login smarketing_bi --role smarketing_loader` made the BI group a login inside
    the loader role, so every BI login could truncate core.person."""
    monkeypatch.setenv("SMARKETING_NEW_LOGIN_PASSWORD", "Tmp-123-not-logged")
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", admin_url)
    for name in ("smarketing_bi", "smarketing_owner", "pg_execute_server_program", "postgres", "Robert'; drop",
                 "public", "none", "x" * 64):
        assert cli.main(["warehouse", "create-login", name, "--role", "smarketing_loader"]) == 2, name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        assert conn.execute("select count(*) from pg_roles where rolcanlogin and rolname like any("
                            "array['smarketing\\_bi', 'pg\\_%'])").fetchone() == (0,)
        conn.execute("drop role if exists tool_group")
        conn.execute("create role tool_group nologin")
    try:
        assert cli.main(["warehouse", "create-login", "tool_group", "--role", "smarketing_bi"]) == 2
        monkeypatch.setenv("SMARKETING_NEW_LOGIN_PASSWORD", "\uff33ecret")  # fullwidth S: SASLprep would change it
        assert cli.main(["warehouse", "create-login", "tool_login", "--role", "smarketing_bi"]) == 2
        monkeypatch.setenv("SMARKETING_NEW_LOGIN_PASSWORD", "Tmp-123-not-logged")
        # refused by the server (the pipeline's own login may not make logins): the failed statement
        # lands in the server log, with the verifier, not the password
        monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", with_database(warehouse_url, "smarketing_test",
                                                                              "postgresql"))
        assert cli.main(["warehouse", "create-login", "tool_login", "--role", "smarketing_bi"]) == 2
        monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", admin_url)
        assert cli.main(["warehouse", "create-login", "tool_login", "--role", "smarketing_bi"]) == 0
        assert cli.main(["warehouse", "create-login", "tool_login", "--role", "smarketing_marketing"]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == (
            "login tool_login password changed; its roles: smarketing_bi, smarketing_marketing")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("drop role if exists tool_group")
            conn.execute("drop role if exists tool_login")
    log = (embedded._pgdata(SERVER.resolve()) / "server.log").read_text(errors="replace")
    assert 'create role "tool_login" login password \'SCRAM-SHA-256$' in log
    assert "Tmp-123-not-logged" not in log


def test_a_password_is_sent_as_its_scram_verifier_and_still_logs_in(admin_url, warehouse_url):
    verifier = warehouse.password_verifier("correct horse")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and "correct horse" not in verifier
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("drop role if exists verifier_check")
        conn.execute(f"create role verifier_check login password '{verifier}'")
    try:
        with psycopg.connect(**parts(warehouse_url), user="verifier_check", password="correct horse",
                             passfile=os.devnull) as conn:
            assert conn.execute("select current_user").fetchone() == ("verifier_check",)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(**parts(warehouse_url), user="verifier_check", password="correct horsE",
                            passfile=os.devnull, connect_timeout=5).close()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("drop role if exists verifier_check")


def test_a_table_in_raw_that_landing_did_not_make_is_named_and_left_alone(empty_warehouse, caplog):
    """Found: such a table made the merge retry for minutes, then fail without naming it."""
    from datetime import date

    from smarketing import tasks

    with empty_warehouse.begin() as conn:
        conn.exec_driver_sql("create table raw.notes (note text)")
        conn.exec_driver_sql("insert into raw.notes values ('kept')")
        conn.exec_driver_sql("create view raw.hubspot__notes_view as select * from raw.hubspot__contacts")
    with caplog.at_level(logging.WARNING):
        tasks.merge("run-notes", date(2026, 6, 30))
    assert "raw.notes is not a landing table" in caplog.text
    assert "raw.hubspot__notes_view is not a landing table" in caplog.text
    with empty_warehouse.connect() as conn:
        assert conn.exec_driver_sql("select note from raw.notes").scalars().all() == ["kept"]
        assert conn.exec_driver_sql("select to_regclass('staging.latest_notes')").scalar() is None


def test_a_login_holding_the_merge_lock_is_named_not_waited_for_forever(empty_warehouse, login_as, monkeypatch):
    """Any login may take an advisory lock of the same key; found: one held smarketing.migrate and
    migrate hung."""
    from datetime import date

    from smarketing import tasks
    from smarketing.warehouse import LockTimeout

    squatter = login_as("smarketing_bi")
    squatter.execute("select pg_advisory_lock(hashtext('smarketing.merge'))")
    monkeypatch.setenv("SMARKETING_LOCK_WAIT_SECONDS", "1")
    with pytest.raises(LockTimeout, match="merge: another session has held its lock too long .user test_smarketing_bi"):
        tasks.merge("run-lock", date(2026, 6, 30))
    squatter.execute("select pg_advisory_unlock_all()")
    tasks.merge("run-lock", date(2026, 6, 30))


def test_a_stray_pgpassword_does_not_lock_the_pipeline_out(empty_warehouse, monkeypatch, capsys):
    """Found: with PGPASSWORD exported in the shell (after trying a BI login), make demo, warehouse
    psql and checksums failed: libpq sends it instead of the password file's."""
    from smarketing import cli

    url = os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"]
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", f"{url}&application_name=stray_pgpassword")  # new engine
    monkeypatch.setenv("PGPASSWORD", "the-bi-login-password")
    assert cli.main(["warehouse", "checksums"]) == 0
    out, err = capsys.readouterr()
    assert "core.person 0 " in out and "PGPASSWORD is ignored" in err
    assert "PGPASSWORD" not in os.environ


def test_warehouse_psql_is_the_servers_own_version(empty_warehouse):
    """Found by a trial: `smarketing warehouse psql` ran the system's psql (15 on Debian 12) against
    the embedded server (18), whose catalog an older psql's \\d commands misread."""
    import subprocess

    from smarketing import embedded
    from tests.conftest import SERVER, TEST_DATABASE

    command = embedded.psql_command(SERVER, TEST_DATABASE)
    out = subprocess.run([*command, "-XAtc", "select current_setting('server_version_num')::int / 10000,"
                          " current_user"], capture_output=True, text=True, timeout=60, check=True).stdout
    client = subprocess.run([command[0], "--version"], capture_output=True, text=True, check=True).stdout
    server_major, user = out.strip().split("|")
    assert (user, client.split()[2].split(".")[0]) == (embedded.OWNER, server_major)


def test_warehouse_psql_passes_what_follows_a_double_dash_to_psql(empty_warehouse):
    """Found by a trial: ``smarketing warehouse psql -- -c ...`` handed psql the ``--`` too, after
    which psql read its options as a database and a user name and ignored them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import SERVER

    cli = Path(sys.executable).parent / "smarketing"
    found = subprocess.run([str(cli), "warehouse", "psql", "--", "--version"], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "SMARKETING_WAREHOUSE_DIR": str(SERVER)})
    assert (found.returncode, found.stdout.split()[:2]) == (0, ["psql", "(PostgreSQL)"]), found.stderr
