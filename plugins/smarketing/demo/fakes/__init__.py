"""Local HTTP servers that behave like the HubSpot, Salesforce and Mailchimp APIs, serving a demo
``Dataset`` (Mailchimp: an audience that starts empty and fills with the demo's pushes).

They follow the documented request and response shapes, paging, caps, rate limits, errors and
deletes, so the demo and the tests run the production connectors over real HTTP.
"""

from smarketing.demo.fakes.hubspot import FakeHubSpot
from smarketing.demo.fakes.mailchimp import FakeMailchimp
from smarketing.demo.fakes.salesforce import FakeSalesforce
from smarketing.demo.fakes.server import FakeApi, Fault

__all__ = ["FakeApi", "FakeHubSpot", "FakeMailchimp", "FakeSalesforce", "Fault", "connection_env", "start_demo_fakes"]


def connection_env(hubspot: FakeHubSpot, salesforce: FakeSalesforce,
                   mailchimp: FakeMailchimp | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values that point the connectors at running fakes (demo credentials only)."""
    import json

    return ({"AIRFLOW_CONN_MAILCHIMP_DEFAULT": json.dumps({
        "conn_type": "http", "host": mailchimp.url, "password": mailchimp.api_key,
        "extra": {"max_calls_per_run": 20000}})} if mailchimp is not None else {}) | {
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


def start_demo_fakes(dataset, hubspot_port: int = 0, salesforce_port: int = 0, mailchimp_port: int = 0):
    """Start the three fakes on ``dataset``; return (hubspot, salesforce, mailchimp, connection environment)."""
    hubspot, salesforce, mailchimp = FakeHubSpot(dataset), FakeSalesforce(dataset), FakeMailchimp()
    hubspot.start(hubspot_port)
    salesforce.start(salesforce_port)
    mailchimp.start(mailchimp_port)
    return hubspot, salesforce, mailchimp, connection_env(hubspot, salesforce, mailchimp)
