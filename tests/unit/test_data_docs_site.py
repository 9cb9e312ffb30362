"""The earlier runs' Data Docs pages around Great Expectations' build, which deletes every page it
did not render: moved aside and back, kept through a failed build and through a process killed
while they were aside, and only the pages the build wrote handed on to be rewritten."""

from pathlib import Path

import pytest

from smarketing import data_docs


def page(site: Path, relative: str, body: str) -> Path:
    path = site / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def gx_build(site: Path, pages: dict[str, str]) -> None:
    """What GX's build does to the site: its own pages only."""
    for folder in ("validations", "expectations"):
        assert not (site / folder).exists() or not any((site / folder).rglob("*.html"))
    for relative, body in pages.items():
        page(site, relative, body)


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "local_site"
    page(site, "validations/hubspot__contacts/run-one/20260630T010000.000000Z/a.html", "run one")
    page(site, "expectations/hubspot__contacts.html", "suite as run one saw it")
    page(site, "static/vendor/jquery/dist/jquery.min.js", "jquery")
    return site


def files(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text() for p in sorted(site.rglob("*")) if p.is_file()}


def test_the_earlier_runs_come_back_beside_the_new_one_and_only_the_new_pages_are_handed_on(site):
    new = {"validations/hubspot__contacts/run-two/20260630T020000.000000Z/a.html": "run two",
           "expectations/hubspot__contacts.html": "suite as run two saw it"}
    with data_docs.earlier_runs_kept(site) as written:
        gx_build(site, new)
        assert written == []  # filled once the build is done
    assert files(site) == {**new, "validations/hubspot__contacts/run-one/20260630T010000.000000Z/a.html": "run one",
                           "static/vendor/jquery/dist/jquery.min.js": "jquery"}
    assert sorted(str(p.relative_to(site)) for p in written) == sorted(new)
    assert not any(p.name.endswith(".earlier-runs") for p in site.parent.iterdir())


def test_a_failed_build_and_a_killed_process_lose_no_earlier_page(site):
    before = files(site)
    with pytest.raises(RuntimeError), data_docs.earlier_runs_kept(site):
        raise RuntimeError("the build failed")
    assert files(site) == before
    # killed while the pages were aside: the next build finds them there and puts them back first
    aside = site.parent / f".{site.name}.earlier-runs"
    aside.mkdir()
    (site / "validations").rename(aside / "validations")
    new = {"validations/hubspot__contacts/run-two/20260630T020000.000000Z/a.html": "run two"}
    with data_docs.earlier_runs_kept(site):
        gx_build(site, new)
    assert files(site) == {**before, **new}
