"""SIGKILL in the middle of landing, merging and list export: a rerun converges to the state of an
uninterrupted run, with no partial file and no duplicate row."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date

from sqlalchemy import text

from smarketing.config import PATHS

AS_OF = date(2026, 6, 30)


def run_until(script: str, ready, env: dict[str, str], timeout: float = 60) -> None:
    """Start ``script`` in a child process, wait until ``ready()`` is true, then SIGKILL it."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env={**os.environ, **env},
                             cwd=PATHS.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if child.poll() is not None:
                raise AssertionError(f"the child ended before it could be killed:\n{child.stdout.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("the child never reached the point to kill it at")
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def scalar(eng, query):
    with eng.connect() as conn:
        return conn.execute(text(query)).scalar()


def test_a_kill_during_landing_then_a_rerun_lands_everything_once(empty_warehouse, warehouse_url, fake_apis,
                                                                  demo_dataset):
    hubspot, *_ = fake_apis
    total = demo_dataset.count("hubspot", "email_events")
    script = f"""
        from smarketing import warehouse
        from smarketing.landing import land_entity
        from smarketing.sources import get_source
        land_entity(warehouse.engine({warehouse_url!r}), get_source("hubspot"), "email_events", "killed")
    """
    from smarketing.demo.fakes import Fault

    # the 75th window request (spring 2026) stalls, after the windows from July 2025 have landed
    hubspot.inject(Fault(200, times=1, path="/email/public/v1/events", after=74, delay=30,
                         body='{"events": [], "hasMore": false}'))
    run_until(script, lambda: scalar(empty_warehouse, "select count(*) from raw.hubspot__email_events") > 0,
              {"PYTHONPATH": str(PATHS.root / "plugins")})
    hubspot.faults.clear()
    partial = scalar(empty_warehouse, "select count(*) from raw.hubspot__email_events")
    assert 0 < partial < total

    from smarketing.landing import land_entity
    from smarketing.sources import get_source

    land_entity(empty_warehouse, get_source("hubspot"), "email_events", "rerun")
    assert scalar(empty_warehouse, "select count(*) from raw.hubspot__email_events") == total
    assert scalar(empty_warehouse, "select count(distinct record_id) from raw.hubspot__email_events") == total


def test_a_kill_during_the_merge_leaves_core_as_it_was(empty_warehouse, warehouse_url, fake_apis):
    from smarketing import tasks

    for system in ("hubspot", "salesforce"):
        tasks.extract(system, "run", AS_OF)
    tasks.validate("run", AS_OF)
    script = f"""
        from datetime import date
        from smarketing import models, transform, warehouse
        original = models.write
        def slow(conn, model, params):
            rows = original(conn, model, params)
            if model.name == "person_attributes":
                # hold the transaction open; let the server notice a dead client within half a second
                conn.exec_driver_sql("set client_connection_check_interval = 500")
                conn.exec_driver_sql("select pg_sleep(60)")
            return rows
        models.write = slow
        transform.merge_core(warehouse.engine({warehouse_url!r}), date(2026, 6, 30))
    """

    def merging() -> bool:
        return bool(scalar(empty_warehouse, "select count(*) from pg_stat_activity where query like '%pg_sleep(60)%'"
                                            " and pid <> pg_backend_pid()"))

    run_until(script, merging, {"PYTHONPATH": str(PATHS.root / "plugins")})
    for _ in range(100):  # the server notices the dropped connection and rolls back
        if not merging():
            break
        time.sleep(0.1)
    assert scalar(empty_warehouse, "select count(*) from core.person") == 0
    assert scalar(empty_warehouse, "select count(*) from core.person_identity") == 0

    tasks.merge("rerun", AS_OF)
    persons = scalar(empty_warehouse, "select count(*) from core.person")
    assert tasks.merge("again", AS_OF)["identity"]["changed"] == 0
    assert scalar(empty_warehouse, "select count(*) from core.person") == persons > 100


def test_a_kill_while_writing_a_list_leaves_no_partial_file(tmp_path):
    from smarketing.nurture.lists import write_csv_atomically

    path = tmp_path / "nurture" / "renewal_2026-06-30.csv"
    write_csv_atomically(path, ("email",), [["old@example.com"]])
    script = f"""
        import time
        from pathlib import Path
        from smarketing.nurture.lists import write_csv_atomically
        def rows():
            for n in range(10_000_000):
                if n == 1000:
                    print("halfway", flush=True)
                    time.sleep(60)
                yield [f"p{{n}}@example.com"]
        write_csv_atomically(Path({str(path)!r}), ("email",), rows())
    """
    run_until(script, lambda: any(p.name.startswith(".renewal") for p in path.parent.iterdir())
              and any(p.stat().st_size > 10_000 for p in path.parent.iterdir() if p.name.startswith(".")),
              {"PYTHONPATH": str(PATHS.root / "plugins")})
    assert path.read_bytes() == b"email\r\nold@example.com\r\n", "the previous list is intact"
    write_csv_atomically(path, ("email",), [["new@example.com"]])
    assert [p.name for p in path.parent.iterdir()] == [path.name], "the killed writer's temporary file is gone"
    assert path.read_bytes() == b"email\r\nnew@example.com\r\n"
