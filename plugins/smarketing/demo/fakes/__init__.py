"""Local HTTP servers that behave like the HubSpot and Salesforce APIs, serving a demo ``Dataset``.

They follow the documented request and response shapes, paging, caps, rate limits, errors and
deletes, so the demo and the tests run the production connectors over real HTTP.
"""

from smarketing.demo.fakes.hubspot import FakeHubSpot
from smarketing.demo.fakes.salesforce import FakeSalesforce
from smarketing.demo.fakes.server import FakeApi, Fault

__all__ = ["FakeApi", "FakeHubSpot", "FakeSalesforce", "Fault", "connection_env", "start_demo_fakes"]


def connection_env(hubspot: FakeHubSpot, salesforce: FakeSalesforce) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values that point the connectors at running fakes (demo credentials only)."""
    import json

    return {
        "AIRFLOW_CONN_HUBSPOT_DEFAULT": json.dumps({
            "conn_type": "http", "host": hubspot.url, "password": hubspot.token,
            "extra": {"page_size": 100, "max_calls_per_run": 20000},
        }),
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps({
            "conn_type": "http", "host": salesforce.url, "login": salesforce.client_id,
            "password": salesforce.client_secret,
            "extra": {"api_version": "62.0", "batch_size": 200, "max_calls_per_run": 20000},
        }),
    }


def start_demo_fakes(dataset, hubspot_port: int = 0, salesforce_port: int = 0):
    """Start both fakes on ``dataset``; return (hubspot, salesforce, connection environment)."""
    hubspot, salesforce = FakeHubSpot(dataset), FakeSalesforce(dataset)
    hubspot.start(hubspot_port)
    salesforce.start(salesforce_port)
    return hubspot, salesforce, connection_env(hubspot, salesforce)
