"""A payload is cast in one place: validation checks staging's typed projection (the rows the
merge reads), so the two cannot disagree about what a field means."""

import re

from smarketing.config import PATHS


def code(path) -> str:
    return re.sub(r"--[^\n]*", "", path.read_text())


def test_no_validation_projection_reads_the_payload():
    touching = sorted(p.name for p in (PATHS.sql / "quality").glob("*.sql") if re.search(r"\bpayload\b", code(p)))
    assert touching == []


def test_every_suite_has_a_staging_projection_and_no_cast_there_can_fail():
    """The projection also runs over rows no check has passed yet: a cast that fails on a
    malformed value would fail the whole batch instead of quarantining the row."""
    from smarketing.quality import typed_rows

    for suite in sorted((PATHS.expectations / "gx" / "expectations").glob("*.json")):
        assert "where batch_id in ('x')" in typed_rows(suite.stem, "'x'"), suite.stem
    failing = re.compile(r"(?<!\w)\((?:\w+\.)?payload\s*(?:->>?|#>>?)[^()]*\)::\w+")
    hard_casts = {p.name: failing.findall(code(p)) for p in (PATHS.sql / "staging").glob("stg_*.sql")}
    assert {name: casts for name, casts in hard_casts.items() if casts} == {}
