"""The demo world, apart from the real connectors: ``world`` (the seeded dataset and its ground
truth), ``fakes`` (HubSpot, Salesforce and Mailchimp API fakes serving it over HTTP) and, here, the start of
those fakes for ``smarketing demo``, which then runs the DAGs like ``smarketing run``
(``smarketing.local_airflow``).
"""

from __future__ import annotations

import os


def start_fake_apis() -> list[str]:
    """Serve the demo dataset through local fakes of the HubSpot, Salesforce and Mailchimp APIs and
    point the connections at them, so the demo runs the production connectors over real HTTP."""
    from smarketing.demo.fakes import start_demo_fakes
    from smarketing.sources import demo_dataset_of

    hubspot, salesforce, mailchimp, env = start_demo_fakes(demo_dataset_of())
    os.environ.update(env)
    return [hubspot.url, salesforce.url, mailchimp.url]
