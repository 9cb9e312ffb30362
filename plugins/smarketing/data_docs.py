"""Data Docs a person can open anywhere: Great Expectations' site made to work offline, with an
index of every kept validation run and the severity of what failed in it.

- GX's pages load Bootstrap, jQuery, Font Awesome and Vega from CDNs (blank offline). The same
  files, from the npm registry at the versions the pages name and checked against the registry's
  integrity hashes (``data/data_docs_assets.json``), are fetched once at install
  (``python -m smarketing.data_docs fetch``: ``make install``, the Dockerfile) into
  ``SMARKETING_ASSET_DIR``, copied to the site's ``static/vendor/`` and the pages rewritten to
  use them.
- ``index.html`` lists the runs (named ``<run_id>_as_of_<date>``) newest first, each suite with its
  failing checks by severity (critical: rows quarantined; warning: recorded) from
  ``meta.dq_results``, linking GX's page of the run. GX's own index stays as ``gx_index.html``.
- Only the newest ``data_docs_runs_kept`` runs (``config/quality.yaml``) keep their pages.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import escape
from sqlalchemy import Engine, text

from smarketing.paths import PATHS, ConfigError

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).parent / "data" / "data_docs_assets.json"
REGISTRY = "https://registry.npmjs.org"
VENDOR = "static/vendor"
# GX's logo comes from its S3 bucket; the site ships the same picture in static/images
LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
                  r"(?:logo-long|full_logo_dark)\.png(?:\?d=[^\"')\s]*)?")
# what a page loads by itself (links a person clicks are fine)
LOADS = re.compile(r"<(?:script|img|iframe)\b[^>]*?\bsrc=[\"'](https?://[^\"']+)|"
                   r"<link\b[^>]*?\bhref=[\"'](https?://[^\"']+)|url\([\"']?(https?://[^\"')]+)")


FAVICON = re.compile(r'href="(?:\./|(?:\.\./)+)static/images/favicon\.ico"')
LOCAL_SRI = re.compile(r'(<(?:script|link)\b[^>]*static/vendor/[^>]*?)\s+(?:integrity|crossorigin)="[^"]*"')


def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text())


def asset_dir() -> Path:
    return Path(os.environ.get("SMARKETING_ASSET_DIR", PATHS.root / ".assets")) / "data_docs"


def _tarball_url(package: str, version: str) -> str:
    """From npm's registry, or the mirror ``npm_config_registry`` names (npm's own variable)."""
    registry = (os.environ.get("npm_config_registry") or REGISTRY).rstrip("/")
    return f"{registry}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def _stamp(target: Path, package: str, version: str) -> Path:
    return target / package / f".{version}.fetched"


def missing_packages(target: Path | None = None) -> list[str]:
    target = target or asset_dir()
    return [f"{name}@{spec['version']}" for name, spec in manifest()["packages"].items()
            if not _stamp(target, name, spec["version"]).exists()]


def fetch(target: Path | None = None) -> list[str]:
    """Download the packages not fetched yet, verify each tarball against its integrity hash and
    unpack the files the site needs; returns the packages fetched."""
    import requests

    target = target or asset_dir()
    fetched = []
    for name, spec in manifest()["packages"].items():
        version = spec["version"]
        if _stamp(target, name, version).exists():
            continue
        response = requests.get(_tarball_url(name, version), timeout=60)
        response.raise_for_status()
        algorithm, _, expected = spec["integrity"].partition("-")
        digest = base64.b64encode(hashlib.new(algorithm, response.content).digest()).decode()
        if digest != expected:
            raise ConfigError(f"{name}@{version}: the tarball's {algorithm} is {digest}, not the manifest's"
                              f" {expected}; nothing of it was unpacked")
        folder = target / name
        shutil.rmtree(folder, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
            for member in archive.getmembers():
                inner = member.name.removeprefix("package/")
                if member.isfile() and any(fnmatch(inner, pattern) for pattern in spec["files"]):
                    out = folder / inner
                    out.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None
                    out.write_bytes(source.read())
        _stamp(target, name, version).write_text(spec["integrity"])
        fetched.append(f"{name}@{version}")
    return fetched


# -- the site ----------------------------------------------------------------------------------------


def localize(site: Path, assets: Path | None = None, pages: list[Path] | None = None) -> list[str]:
    """Copy the fetched assets into ``site/static/vendor`` and point the pages at them: ``pages``
    (those a build just wrote; the others were pointed before), else every page, as also when the
    assets reach the site for the first time. Returns what a page still loads from the network
    (``page: url``), empty when the site is offline."""
    assets = assets or asset_dir()
    missing = missing_packages(assets)
    vendor = site / VENDOR
    if not missing:
        if not vendor.exists():  # pages written without the assets still point at the CDNs
            pages = None
        shutil.copytree(assets, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*.fetched"))
    urls = manifest()["urls"]
    logo = site / "static" / "images" / "logo-long.png"
    remote = []
    candidates = [*site.rglob("*.html"), *site.rglob("*.css")] if pages is None else pages
    for page in candidates:
        if page.is_relative_to(vendor) or page.suffix not in (".html", ".css") or not page.is_file():
            continue
        body = original = page.read_text(encoding="utf-8")
        if not missing:
            for url, local in urls.items():
                body = body.replace(f'"{url}"', f'"{os.path.relpath(vendor / local, page.parent)}"')
            # a page opened from disk cannot check subresource integrity (no CORS for file://); the
            # copies were checked at fetch, and are byte for byte what the CDN's hashes name
            while LOCAL_SRI.search(body):  # one attribute per match: integrity, then crossorigin
                body = LOCAL_SRI.sub(r"\1", body)
        body = LOGO.sub(os.path.relpath(logo, page.parent), body)
        # GX's validation pages point one folder short for the icon
        body = FAVICON.sub(f'href="{os.path.relpath(site / "static/images/favicon.ico", page.parent)}"', body)
        if body != original:
            page.write_text(body, encoding="utf-8")
        remote += [f"{page.relative_to(site)}: {next(u for u in m.groups() if u)}" for m in LOADS.finditer(body)]
    if missing:
        log.warning("Data Docs need the network until their assets are fetched (%s missing): run `make install`"
                    " or `python -m smarketing.data_docs fetch`", ", ".join(missing))
    elif remote:
        log.warning("Data Docs pages still load %d file(s) from the network, e.g. %s: add them to %s",
                    len(remote), remote[0], MANIFEST.name)
    return remote


@dataclass
class Run:
    name: str
    pages: dict[str, list[Path]] = field(default_factory=dict)  # suite -> its pages (site-relative)
    latest: datetime = datetime.min

    @property
    def run_id(self) -> str:
        return self.name.rsplit("_as_of_", 1)[0]

    @property
    def as_of(self) -> str:
        return self.name.rsplit("_as_of_", 1)[1] if "_as_of_" in self.name else ""


def runs(site: Path) -> list[Run]:
    """The validation runs with pages in the site, newest first (pages live under
    ``validations/<suite>/<run name>/<run time>/``)."""
    found: dict[str, Run] = {}
    for page in sorted((site / "validations").glob("*/*/*/*.html")):
        suite, name, stamp = page.relative_to(site / "validations").parts[:3]
        run = found.setdefault(name, Run(name))
        run.pages.setdefault(suite, []).append(page.relative_to(site))
        try:
            run.latest = max(run.latest, datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ"))
        except ValueError:  # not a GX run time: listed, oldest
            pass
    return sorted(found.values(), key=lambda r: (r.latest, r.name), reverse=True)


@contextmanager
def earlier_runs_kept(site: Path) -> Iterator[list[Path]]:
    """Around GX's build: it renders the runs and suites of its (in-memory) stores and deletes every
    other page, so the earlier runs' pages and the other suites' pages are moved aside and put back
    beside the new ones. Yields a list that holds, after the build, the files GX wrote."""
    aside = site.parent / f".{site.name}.earlier-runs"
    _put_back(aside, site)  # pages a crash left aside
    for folder in ("validations", "expectations"):
        if (site / folder).exists():
            aside.mkdir(parents=True, exist_ok=True)
            os.replace(site / folder, aside / folder)
    written: list[Path] = []
    try:
        yield written
        vendor = site / VENDOR
        written += [p for p in site.rglob("*") if p.is_file() and not p.is_relative_to(vendor)]
    finally:
        _put_back(aside, site)


def _put_back(aside: Path, site: Path) -> None:
    """Move every file of ``aside`` into ``site`` where the site has none (a page GX wrote again
    stays GX's), then remove ``aside``."""
    if not aside.exists():
        return
    _move_missing(aside, site)
    shutil.rmtree(aside, ignore_errors=True)


def _move_missing(source: Path, target: Path) -> None:
    """Move each entry of ``source`` to ``target`` where ``target`` has none of its name: a folder
    whole (one rename for a run's pages), else entry by entry inside it."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        goal = target / entry.name
        if not os.path.lexists(goal):
            os.replace(entry, goal)
        elif entry.is_dir() and not entry.is_symlink() and goal.is_dir() and not goal.is_symlink():
            _move_missing(entry, goal)


def prune(site: Path, keep: int) -> list[str]:
    """Remove the pages of all but the newest ``keep`` runs; returns the runs removed."""
    removed = []
    for run in runs(site)[keep:]:
        for suite in run.pages:
            shutil.rmtree(site / "validations" / suite / run.name, ignore_errors=True)
            if not any((site / "validations" / suite).iterdir()):
                (site / "validations" / suite).rmdir()
        removed.append(run.name)
    return removed


def write_index(site: Path, eng: Engine) -> Path:
    """``index.html``: the kept runs, newest first, each suite's failing checks by severity."""
    kept = runs(site)
    results: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    held: dict[str, str] = {}
    if kept:
        with eng.connect() as conn:
            for row in conn.execute(text(
                    "select run_id, suite, check_name, column_name, severity, success, unexpected_count,"
                    " rows_quarantined"
                    " from meta.dq_results where run_id = any(:ids) order by suite, severity, check_name"),
                    {"ids": [r.run_id for r in kept]}).mappings():
                results[(row["run_id"], row["suite"])].append(dict(row))
            held = dict(conn.execute(text(
                "select run_id, stats->>'held' from meta.runs where stage = 'validate' and run_id = any(:ids)"
                " and stats ? 'held'"), {"ids": [r.run_id for r in kept]}).all())
    gx_index = site / "index.html"
    if gx_index.exists() and "smarketing-data-docs" not in gx_index.read_text(encoding="utf-8"):
        os.replace(gx_index, site / "gx_index.html")
    sections = []
    for run in kept:
        rows = []
        for suite in sorted(run.pages):
            checks = results.get((run.run_id, suite), [])
            critical = [c for c in checks if not c["success"] and c["severity"] == "critical"]
            warnings = [c for c in checks if not c["success"] and c["severity"] != "critical"]
            quarantined = sum(c["rows_quarantined"] or 0 for c in checks)
            status = ("critical" if critical else "warning" if warnings else "passed" if checks
                      else "unrecorded")  # meta.dq_results holds nothing of this run (an old site)
            links = " ".join(f'<a href="{escape(quote(str(p)))}">results</a>' for p in run.pages[suite])
            rows.append(
                f'<tr class="{status}"><td>{escape(suite)}</td><td><span class="badge {status}">{status}</span></td>'
                f"<td>{len(checks)}</td><td>{_checks(critical)}</td><td>{_checks(warnings)}</td>"
                f"<td>{quarantined}</td><td>{links}</td></tr>")
        sections.append(
            f'<section><h2>{escape(run.name)}</h2><p class="meta">run <code>{escape(run.run_id)}</code>'
            + (f", as of {escape(run.as_of)}" if run.as_of else "")
            + (f", validated {run.latest:%Y-%m-%d %H:%M} UTC" if run.latest != datetime.min else "")
            + "</p>"
            + (f'<p class="held"><span class="badge critical">held back</span> {escape(held[run.run_id])}</p>'
               if run.run_id in held else "")
            + '<div class="wrap"><table><thead><tr><th>Suite</th><th>Result</th><th>Checks</th>'
            "<th>Critical checks failing: unexpected rows</th><th>Warnings: unexpected rows</th>"
            "<th>Records quarantined</th>"
            f"<th>Details</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")
    suites = sorted(p.stem for p in (site / "expectations").glob("*.html"))
    body = "".join(sections) or "<p>No validation run has pages here yet.</p>"
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="smarketing-data-docs"><title>Data quality: validation runs</title><style>'
        "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1100px;"
        "padding:16px;color:#1d2a33}table{border-collapse:collapse;font-size:.9rem;min-width:100%}"
        "th,td{padding:4px 8px;border-bottom:1px solid #dde3e8;text-align:left;vertical-align:top}"
        "th{background:#f1f4f6}.wrap{overflow-x:auto}.meta{color:#5b6b76}.badge{padding:1px 6px;border-radius:4px;"
        "font-size:.8rem;font-weight:600}.badge.critical{background:#f8d7da;color:#842029}"
        ".badge.warning{background:#fff3cd;color:#664d03}.badge.passed{background:#d1e7dd;color:#0f5132}"
        ".badge.unrecorded{background:#e2e3e5;color:#41464b}"
        "code{font-size:.85em}</style></head><body>"
        "<h1>Data quality: validation runs</h1>"
        f"<p class=\"meta\">The newest {len(kept)} run(s), newest first. A critical check that fails moves its rows"
        " to <code>quarantine.records</code> with the reason; a warning is recorded and the rows load."
        " Failing values are never shown here, only which rows failed.</p>"
        f"{body}<h2>Expectation suites</h2><ul>"
        + "".join(f'<li><a href="expectations/{escape(quote(s))}.html">{escape(s)}</a></li>' for s in suites)
        + '</ul><p><a href="gx_index.html">Great Expectations\' own index</a> (the latest run only).</p>'
        "</body></html>")
    gx_index.write_text(html, encoding="utf-8")
    return gx_index


def _checks(checks: list[dict[str, Any]]) -> str:
    """Each as the index and GX's page name it: the check, and the column GX's page lists it under."""
    return "<br>".join(f"{escape(c['check_name'])}" + (f" ({escape(c['column_name'])})" if c["column_name"] else "")
                       + f": {c['unexpected_count'] or 0}" for c in checks) or "–"


def finish(site: Path, eng: Engine, keep: int, written: list[Path] | None = None) -> dict[str, Any]:
    """After GX built the site: keep the newest runs, make the pages it ``written`` (else every
    page) work offline, index the runs."""
    removed = prune(site, keep)
    remote = localize(site, pages=written)
    write_index(site, eng)
    return {"runs_removed": removed, "remote_loads": remote}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["fetch"]:
        print("usage: python -m smarketing.data_docs fetch", file=sys.stderr)
        return 2
    fetched = fetch()
    print(f"Data Docs assets in {asset_dir()}: " + (f"fetched {', '.join(fetched)}" if fetched else "all present"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
