"""The suites of one validation dealt to processes (config/quality.yaml ``processes``): the costliest
first to the least loaded, and a forked process that fails is reported, never taken for one that
passed. The suites' results themselves are in tests/integration/test_quality.py."""

import logging
import os
from pathlib import Path

from sqlalchemy import create_engine

from smarketing.quality import _collect, _fork, _shares, _Suite


def suite(name: str, rows: int, groups: int = 1) -> _Suite:
    source, entity = name.split("__")
    return _Suite(source, entity, Path(f"{name}.json"), [[f"{name}-{n}"] for n in range(groups)], rows)


def names(shares):
    return [[f"{s.source}__{s.entity}" for s in share] for share in shares]


def test_a_first_load_is_dealt_by_rows_and_an_incremental_one_by_suites():
    first_load = [suite("hubspot__email_events", 600_000), suite("hubspot__contacts", 100_000),
                  suite("salesforce__leads", 70_000), suite("salesforce__tasks", 70_000),
                  suite("salesforce__accounts", 9_000)]
    # 625,000 | 125,000, then 95,000 twice and 34,000 to the lighter one
    assert names(_shares(first_load, 2)) == [["hubspot__email_events"], [
        "hubspot__contacts", "salesforce__leads", "salesforce__tasks", "salesforce__accounts"]]
    incremental = [suite("hubspot__email_events", 6_000), suite("hubspot__contacts", 1_000),
                   suite("salesforce__leads", 700), suite("salesforce__tasks", 700)]
    assert [len(share) for share in _shares(incremental, 2)] == [2, 2]  # the fixed cost of a checkpoint rules
    held_twice = [suite("hubspot__contacts", 10, groups=2), suite("salesforce__leads", 10),
                  suite("salesforce__tasks", 10)]
    assert names(_shares(held_twice, 2)) == [["hubspot__contacts"], ["salesforce__leads", "salesforce__tasks"]]


def test_never_more_processes_than_suites_nor_fewer_than_one():
    two = [suite("hubspot__contacts", 5), suite("salesforce__leads", 5)]
    assert len(_shares(two, 8)) == 2
    assert names(_shares(two, 1)) == [["hubspot__contacts", "salesforce__leads"]]
    assert names(_shares([], 2)) == [[]]


ENGINE = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected


def test_a_check_that_raises_in_its_process_is_reported_with_its_error():
    def check(share):
        raise ValueError(f"broken suite {share[0].entity}")

    child = _fork(check, [suite("hubspot__contacts", 1)], ENGINE)
    outcomes, errors, broken, results, failure = _collect(child)
    assert (outcomes, errors, broken, results) == ([], [], [], [])
    assert failure == "ValueError: broken suite contacts"
    assert child.suites == ["hubspot__contacts"]


def test_a_process_that_dies_is_reported_with_its_exit_code():
    def check(share):
        os._exit(9)

    child = _fork(check, [suite("salesforce__leads", 1)], ENGINE)
    *_, failure = _collect(child)
    assert failure == "it ended without a result"
    assert child.process.exitcode == 9


def test_a_process_logs_through_its_parent(caplog):
    def check(share):
        logging.getLogger("smarketing.quality").warning("suite %s: 2 rows quarantined", share[0].entity)
        raise RuntimeError("after the warning")

    with caplog.at_level(logging.WARNING):
        *_, failure = _collect(_fork(check, [suite("hubspot__contacts", 1)], ENGINE))
    assert failure == "RuntimeError: after the warning"
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("smarketing.quality", "suite contacts: 2 rows quarantined")]
