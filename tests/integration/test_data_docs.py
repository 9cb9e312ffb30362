"""Data Docs a person can open anywhere: validation runs from landed source records, the site
opened in headless Chromium with the network out of reach, the runs listed with the severity of
what failed, and the assets fetched only when they are what the manifest pins."""

import http.server
import threading
from datetime import date

import pytest

from smarketing import data_docs, tasks
from smarketing.demo.world import DemoSource
from smarketing.landing import land_source
from tests.conftest import reset_warehouse

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def site(engine, demo_dataset, tmp_path_factory):
    """HubSpot landed and validated (run dd-one), then Salesforce (run dd-two), into a new site."""
    folder = tmp_path_factory.mktemp("data_docs")
    patch = pytest.MonkeyPatch()
    patch.setenv("SMARKETING_DATA_DOCS_DIR", str(folder))
    reset_warehouse(engine)
    land_source(engine, DemoSource("hubspot", demo_dataset), "dd-one")
    tasks.validate("dd-one", AS_OF, max_failure_share=0.001)  # the contacts' 2 bad rows hold their batch
    land_source(engine, DemoSource("salesforce", demo_dataset), "dd-two")
    tasks.validate("dd-two", AS_OF)
    yield folder
    patch.undo()


def test_both_runs_are_kept_and_listed_newest_first_with_what_failed_by_severity(site):
    assert [run.name for run in data_docs.runs(site)] == ["dd-two_as_of_2026-06-30", "dd-one_as_of_2026-06-30"]
    index = (site / "index.html").read_text()
    assert index.index("<h2>dd-two_as_of_2026-06-30</h2>") < index.index("<h2>dd-one_as_of_2026-06-30</h2>")
    one = index[index.index("<h2>dd-one_as_of_2026-06-30</h2>"):]
    contacts = one[one.index("<td>hubspot__contacts</td>"):].split("</tr>")[0]
    statuses = one[one.index("<td>hubspot__subscription_statuses</td>"):].split("</tr>")[0]
    assert 'badge critical">critical' in contacts and "email_valid (email): 2" in contacts
    assert "subscribed_with_legal_basis (has_basis_if_subscribed): " in statuses and "recipient_valid" in statuses
    assert "salesforce__leads" in index[:index.index("<h2>dd-one")]  # the second run's suites
    assert "held back</span> suite hubspot__contacts" in one and "held back" not in index[:index.index("<h2>dd-one")]
    # the second run validated Salesforce only: the HubSpot suites' pages are still there
    assert {"hubspot__contacts", "salesforce__leads"} <= {p.stem for p in (site / "expectations").glob("*.html")}


def test_every_page_opens_offline_with_its_styles_and_scripts(site, browser):
    validations = sorted((site / "validations").rglob("*.html"))
    # the HubSpot suites, then Salesforce's and the two HubSpot suites whose batches were held
    assert len(validations) == 4 + 7 + 2
    suites = sorted((site / "expectations").glob("*.html"))[:2]
    pages = [site / "index.html", site / "gx_index.html", *validations, *suites]
    for path in pages:
        page = browser.new_page()
        seen = {"errors": [], "remote": []}
        page.on("console", lambda m, seen=seen: seen["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, seen=seen: seen["errors"].append(str(e)))
        page.on("request", lambda r, seen=seen: seen["remote"].append(r.url) if not r.url.startswith("file:") else None)
        page.goto(path.as_uri(), wait_until="load")
        assert (path.name, seen["remote"], seen["errors"]) == (path.name, [], [])
        if path.name != "index.html":  # GX's pages: Bootstrap, jQuery and Vega came from the copies
            assert page.evaluate("typeof jQuery === 'function' && typeof jQuery.fn.bootstrapTable === 'function'"
                                 " && typeof vegaEmbed === 'function'")
            assert page.evaluate("getComputedStyle(document.querySelector('.container-fluid, .container, body'))"
                                 ".boxSizing") == "border-box"
        page.close()


def test_only_the_newest_runs_keep_their_pages(site, tmp_path):
    import shutil

    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    assert data_docs.prune(copy, 1) == ["dd-one_as_of_2026-06-30"]
    assert [run.name for run in data_docs.runs(copy)] == ["dd-two_as_of_2026-06-30"]
    assert sorted(p.name for p in (copy / "validations").iterdir()) == sorted(  # no empty suite folders left
        p.parent.parent.parent.name for p in (copy / "validations").rglob("*.html"))


def test_without_the_fetched_assets_the_pages_keep_their_cdn_links_and_it_is_said(site, tmp_path, monkeypatch,
                                                                                   caplog):
    import shutil

    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    for page in copy.rglob("*.html"):  # as GX writes them
        page.write_text(page.read_text().replace("../" * 4 + "static/vendor/jquery/dist/jquery.min.js",
                                                 "https://code.jquery.com/jquery-3.7.1.min.js"))
    shutil.rmtree(copy / "static" / "vendor")
    monkeypatch.setenv("SMARKETING_ASSET_DIR", str(tmp_path / "none"))
    remote = data_docs.localize(copy)
    assert any(r.endswith("https://code.jquery.com/jquery-3.7.1.min.js") for r in remote)
    assert "run `make install` or `python -m smarketing.data_docs fetch`" in caplog.text
    assert not (copy / "static" / "vendor").exists()


def test_a_tarball_that_is_not_what_the_manifest_pins_is_refused(tmp_path, monkeypatch):
    """A registry mirror (npm_config_registry) that serves other bytes than npm published."""
    class Registry(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server calls it by this name
            body = b"not the package"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        with pytest.raises(data_docs.ConfigError, match=r"jquery@3\.7\.1: the tarball's sha512 is .* not the manifest"):
            data_docs.fetch(tmp_path)
    finally:
        server.shutdown()
    assert list(tmp_path.iterdir()) == []
