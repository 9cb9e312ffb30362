"""What an operator reads in the task logs: one progress line per landed page, per merge and KPI
step and per nurture program, no Great Expectations chatter in the validate log, and Data Docs
that name the run. The stages are called as their tasks call them."""

import logging
from datetime import date

from smarketing import models, tasks
from smarketing.demo.world import DemoSource
from smarketing.landing import land_source
from tests.fixtures import demo_story


def test_validate_merge_kpis_and_nurture_log_each_step_and_no_great_expectations_info(
        empty_warehouse, demo_dataset, caplog, tmp_path):
    from smarketing.nurture.lists import build_lists
    from smarketing.nurture.programs import load_programs

    as_of = date.fromisoformat(demo_story.AS_OF)
    with caplog.at_level(logging.INFO):
        for system in ("hubspot", "salesforce"):
            land_source(empty_warehouse, DemoSource(system, demo_dataset, page_size=50), "logs")
        tasks.validate("logs", as_of)
        tasks.merge("logs", as_of)
        tasks.refresh_kpis("logs", as_of)
        programs = list(load_programs().values())
        build_lists(empty_warehouse, programs, as_of, "logs", export_dir=tmp_path)
    chatter = [r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING]
    assert chatter == []
    progress = {r.getMessage().split(":", 1)[0] for r in caplog.records if r.name == "smarketing.models"}
    steps = {m.name for m in models.load("core")} | {m.name for m in models.load("marts")} | {"identity"}
    assert steps - progress == set()
    line = next(r.getMessage() for r in caplog.records if r.name == "smarketing.models"
                and r.getMessage().startswith("person_attributes:"))
    assert " rows in " in line and line.endswith(" s")
    from smarketing.quality import data_docs_dir

    # the Data Docs name the run and its as-of date, not GX's __none__
    runs = {p.name for p in data_docs_dir().rglob("*") if p.is_dir()}
    assert f"logs_as_of_{as_of.isoformat()}" in runs
    pages = [r.getMessage() for r in caplog.records if r.name == "smarketing.landing"
             and r.getMessage().startswith("hubspot contacts: page ")]
    assert len(pages) == -(-demo_dataset.count("hubspot", "contacts") // 50) and "records/s" in pages[-1]
    built = {r.getMessage().split(":")[0] for r in caplog.records if r.name == "smarketing.nurture.lists"}
    assert {f"program {p.name}" for p in programs} <= built
