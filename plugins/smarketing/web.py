"""The pages the Airflow api-server serves people, behind Airflow's own login: the KPI reports and
the Data Docs (``/smarketing/...``, linked under Browse by ``plugins/smarketing_plugin.py``).

A FastAPI app of a plugin is not protected by Airflow on its own, so every route here requires an
authenticated Airflow user (the JWT of the UI's session cookie, or a bearer token).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse
from markupsafe import escape

from smarketing import kpi_report
from smarketing.paths import PATHS

REPORT_NAME = re.compile(r"kpis_\d{4}-\d{2}-\d{2}\.html")


def _inside(folder: Path, relative: str) -> Path:
    """``relative`` under ``folder``, refusing anything that leaves it (``..``, absolute paths, links out)."""
    base = folder.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise HTTPException(status_code=404, detail="not found")
    return target


def create_app(require_login: bool = True) -> FastAPI:
    dependencies = []
    if require_login:
        from airflow.api_fastapi.core_api.security import requires_authenticated

        dependencies.append(Depends(requires_authenticated()))
    app = FastAPI(title="Smarketing reports", dependencies=dependencies)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        reports = sorted(kpi_report.report_dir().glob("kpis_????-??-??.html"), reverse=True)
        items = "".join(f'<li><a href="reports/{escape(p.name)}">{escape(p.stem.removeprefix("kpis_"))}</a></li>'
                        for p in reports) or "<li>No KPI report yet: it is written by the smarketing_kpis DAG.</li>"
        return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Smarketing reports</title>'
                '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
                '<body style="font-family: system-ui, sans-serif; margin: 24px">'
                f'<h1>KPI reports</h1><ul>{items}</ul>'
                '<p><a href="data-docs/index.html">Data Docs</a>: every validation run of Great Expectations.</p>'
                "</body></html>")

    @app.get("/reports/latest")
    def latest_report() -> FileResponse:
        path = kpi_report.latest()
        if path is None:
            raise HTTPException(status_code=404, detail="no KPI report yet: it is written by the smarketing_kpis DAG")
        return FileResponse(path, media_type="text/html")

    @app.get("/reports/{name}")
    def report(name: str) -> FileResponse:
        if not REPORT_NAME.fullmatch(name):
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(_inside(kpi_report.report_dir(), name), media_type="text/html")

    @app.get("/data-docs/{relative:path}")
    def data_docs(relative: str) -> FileResponse:
        return FileResponse(_inside(PATHS.data_docs, relative or "index.html"))

    return app
