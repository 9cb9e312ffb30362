"""Airflow plugin: the KPI reports and the Data Docs in the Airflow UI (Browse → KPI report,
Browse → Data Docs), served by the api-server behind Airflow's login (``smarketing.web``)."""

from airflow.plugins_manager import AirflowPlugin

from smarketing.web import create_app


class SmarketingPlugin(AirflowPlugin):
    name = "smarketing"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/smarketing", "name": "Smarketing reports"}]
    external_views = [
        {"name": "KPI report", "href": "smarketing/reports/latest", "destination": "nav", "category": "browse",
         "url_route": "kpi-report"},
        {"name": "Data Docs", "href": "smarketing/data-docs/index.html", "destination": "nav", "category": "browse",
         "url_route": "data-docs"},
    ]
