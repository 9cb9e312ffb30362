"""Test session set-up: one embedded PostgreSQL server and one Airflow home for the whole run
(per worker, when pytest-xdist runs the tests in several processes).

Airflow reads its settings when first imported, so the environment is set here, before any
test module imports it. The server and Airflow state live in ``.test-state/`` (git-ignored),
apart from the demo's, so tests never touch the demo warehouse.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
import pytest

from smarketing.config import with_database

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.fixtures.runs"]  # run_world: the pipeline run after run on a hand-built World
# Under pytest-xdist (make test) each worker has its own server, Airflow home and files.
STATE = ROOT / ".test-state" / os.environ.get("PYTEST_XDIST_WORKER", "")
AIRFLOW_HOME = STATE / "airflow"

shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
shutil.rmtree(STATE / "data_docs", ignore_errors=True)
from smarketing.local_airflow import airflow_env  # noqa: E402 - pure function, no airflow import

os.environ.update(airflow_env(AIRFLOW_HOME, ROOT))
os.environ["SMARKETING_EXPORT_DIR"] = str(STATE / "exports")
os.environ["SMARKETING_DATA_DOCS_DIR"] = str(STATE / "data_docs")
os.environ["SMARKETING_REPORT_DIR"] = str(STATE / "reports")

TEST_DATABASE = "smarketing_test"
SERVER = STATE / "pg"


@pytest.fixture(scope="session")
def warehouse_url() -> str:
    """A fresh database on the session's embedded server, as the pipeline sees it: the login
    ``smarketing_owner``, no superuser. The Airflow connection points at it."""
    from smarketing import embedded

    embedded.start(SERVER, port=embedded.free_port())
    test_url = embedded.fresh_database(SERVER, TEST_DATABASE)
    os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"] = with_database(test_url, TEST_DATABASE, "postgresql")
    yield test_url
    embedded.stop(SERVER)


@pytest.fixture(scope="session")
def admin_url(warehouse_url) -> str:
    """The server's superuser, for what only an administrator does (logins, other databases)."""
    from smarketing import embedded

    return embedded.admin_url(SERVER, TEST_DATABASE)


@pytest.fixture(scope="session")
def engine(warehouse_url):
    from smarketing import warehouse

    return warehouse.engine(warehouse_url)


def reset_warehouse(eng) -> None:
    """Drop every pipeline schema and migrate from scratch."""
    from smarketing import warehouse

    with eng.begin() as conn:
        for schema in warehouse.SCHEMAS:
            conn.exec_driver_sql(f"drop schema if exists {schema} cascade")
    warehouse.migrate(eng)


@pytest.fixture
def empty_warehouse(engine):
    """The warehouse with every migration applied and no data."""
    reset_warehouse(engine)
    return engine


@pytest.fixture(scope="module")
def fake_apis(demo_dataset):
    """The HubSpot, Salesforce and Mailchimp fakes serving the demo dataset; the connections point at them.
    Fresh for each test module: the nurture pushes of one module (campaigns, audience members) are
    records the next module's extract would find."""
    from smarketing.demo.fakes import start_demo_fakes

    hubspot, salesforce, mailchimp, env = start_demo_fakes(demo_dataset)
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield hubspot, salesforce, mailchimp
    hubspot.stop()
    salesforce.stop()
    mailchimp.stop()
    for key, value in before.items():  # no later module reaches for fakes that are gone
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def salesforce():
    """A fresh Salesforce API fake (consumer key "key", secret "secret"), empty."""
    from smarketing.demo.fakes import FakeSalesforce

    fake = FakeSalesforce(client_id="key", client_secret="secret")
    fake.start()
    yield fake
    fake.stop()


def live_records(dataset, system=None):
    """(system, entity, id) of every record whose latest version is not deleted, as the APIs serve them."""
    latest = {}
    for (sys_name, entity), records in dataset.records.items():
        if system is None or sys_name == system:
            for record in records:
                latest[(sys_name, entity, record.record_id)] = record
    return {key for key, record in latest.items() if not record.is_deleted}


@pytest.fixture(scope="session")
def demo_dataset():
    """The dataset of config/sources.yaml that the fakes serve, with its ground truth."""
    from smarketing.sources import demo_dataset_of

    return demo_dataset_of()


@pytest.fixture
def login_as(empty_warehouse, warehouse_url, admin_url):
    """Connect as a new login user that is a member of the given role (with a password: the
    warehouse authenticates every connection)."""
    from sqlalchemy.engine import make_url

    admin = admin_url
    made = []

    def connect(role):
        user = f"test_{role}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"drop role if exists {user}")
            conn.execute(f"create role {user} login password 'test-only-password' in role {role}")
        if user not in made:
            made.append(user)
        url = make_url(warehouse_url)
        return psycopg.connect(host=url.host, port=url.port, dbname=url.database, user=user,
                               password="test-only-password", passfile=os.devnull, autocommit=True)

    yield connect
    with psycopg.connect(admin, autocommit=True) as conn:
        for user in made:
            conn.execute(f"drop owned by {user}")
            conn.execute(f"drop role if exists {user}")


# Debian's chromium as the report's and the Data Docs' reader; without the background-networking
# flags it tries Google's hosts at every start (refused here, and not what a test should see)
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("SMARKETING_REQUIRE_BROWSER"):
            pytest.fail("no chromium on PATH: .ci/run installs Debian's chromium (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium); CI requires it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        yield launched
        launched.close()
