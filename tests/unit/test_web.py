"""The reports and Data Docs the Airflow api-server serves (smarketing.web, plugins/smarketing_plugin.py):
only to a signed-in Airflow user, only files of their folders."""

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from smarketing.web import create_app


@pytest.fixture
def folders(tmp_path, monkeypatch):
    reports, docs = tmp_path / "reports", tmp_path / "data_docs"
    reports.mkdir()
    (docs / "validations").mkdir(parents=True)
    (reports / "kpis_2026-05-31.html").write_text("<p>May</p>")
    (reports / "kpis_2026-06-30.html").write_text("<p>June</p>")
    (reports / "notes.txt").write_text("not a report")
    (docs / "index.html").write_text("<p>Data Docs</p>")
    (docs / "validations" / "run.html").write_text("<p>run</p>")
    (tmp_path / "secret.txt").write_text("the warehouse password")
    (docs / "escape.html").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setenv("SMARKETING_REPORT_DIR", str(reports))
    monkeypatch.setenv("SMARKETING_DATA_DOCS_DIR", str(docs))
    return reports, docs


def client(signed_in: bool) -> TestClient:
    from airflow.api_fastapi.core_api.security import get_user

    app = create_app()
    if signed_in:  # the user Airflow's auth manager would resolve from the session's token
        app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "analyst")
    return TestClient(app)


@pytest.mark.parametrize("path", ["/", "/reports/latest", "/reports/kpis_2026-06-30.html", "/data-docs/index.html"])
def test_nothing_is_served_without_an_airflow_sign_in(folders, path):
    response = client(signed_in=False).get(path)
    assert response.status_code == 401 and "June" not in response.text


def test_a_signed_in_user_gets_the_latest_report_a_named_one_and_the_data_docs(folders):
    web = client(signed_in=True)
    assert web.get("/reports/latest").text == "<p>June</p>"
    assert web.get("/reports/kpis_2026-05-31.html").text == "<p>May</p>"
    assert web.get("/data-docs/validations/run.html").text == "<p>run</p>"
    index = web.get("/").text
    assert index.index('href="reports/kpis_2026-06-30.html"') < index.index('href="reports/kpis_2026-05-31.html"')


@pytest.mark.parametrize("path", ["/reports/notes.txt", "/reports/kpis_2026-07-31.html",
                                  "/reports/..%2F..%2Fsecret.txt", "/data-docs/%2e%2e/secret.txt",
                                  "/data-docs/escape.html", "/data-docs/missing.html"])
def test_nothing_outside_the_two_folders_is_served(folders, path):
    response = client(signed_in=True).get(path)
    assert response.status_code == 404 and "password" not in response.text


def test_before_the_first_kpi_run_the_latest_report_says_so(folders):
    for report in folders[0].glob("kpis_*.html"):
        report.unlink()
    response = client(signed_in=True).get("/reports/latest")
    assert response.status_code == 404 and "written by the smarketing_kpis DAG" in response.text
