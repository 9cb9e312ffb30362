"""Hostile names in configuration never reach SQL, and secrets never reach logs or task results."""

import json
import logging

import pytest

from smarketing.config import ConfigError, ConnectionInfo
from smarketing.demo.fakes import FakeHubSpot, FakeSalesforce, Fault
from smarketing.file_drops import load_drops
from smarketing.landing import land_entity
from smarketing.nurture.programs import load_programs
from smarketing.sources.base import SourceError
from smarketing.sources.http_client import RetryPolicy
from smarketing.sources.hubspot import HubSpotSource
from smarketing.sources.salesforce import SalesforceSource
from smarketing.warehouse import raw_table

HOSTILE = 'x"; drop table raw.hubspot__contacts; --'


def test_hostile_source_and_entity_names_are_refused_before_any_sql():
    for source, entity in ((HOSTILE, "contacts"), ("hubspot", HOSTILE), ("Hubspot", "contacts")):
        with pytest.raises(ValueError, match="not a valid source or entity name"):
            raw_table(source, entity)


def test_hostile_names_in_config_files_are_refused(tmp_path):
    drops = tmp_path / "file_drops.yaml"
    drops.write_text(json.dumps({"drops": {"d": {"entity": HOSTILE, "location": str(tmp_path)}}}))
    with pytest.raises(ConfigError, match="no file-drop entity"):
        load_drops(drops)
    programs = tmp_path / "nurture.yaml"
    programs.write_text(json.dumps({"programs": {HOSTILE: {"eligibility": "nurture/programs/won_recently.sql"}}}))
    with pytest.raises(ConfigError, match="must be lowercase letters"):
        load_programs(programs)
    conn = ConnectionInfo("salesforce_default", "http://127.0.0.1:9", login="k", password="s")
    with pytest.raises(SourceError, match="plain field name"):
        SalesforceSource(conn, extra_fields={"leads": [HOSTILE]})


def test_tokens_never_reach_logs_or_task_results(empty_warehouse, caplog):
    token, secret = "pat-na1-SECRET-TOKEN-4711", "SECRET-CONSUMER-8812"
    hubspot, salesforce = FakeHubSpot(token=token), FakeSalesforce(client_id="key", client_secret=secret)
    hubspot.put("contacts", {"id": "1", "properties": {"email": "a@b.example", "lastmodifieddate":
                                                       "2026-06-01T00:00:00.000Z"}, "archived": False})
    salesforce.put({"attributes": {"type": "Lead"}, "Id": "00Q1", "LastName": "L", "IsDeleted": False,
                    "CreatedDate": "2026-06-01T00:00:00.000+0000", "SystemModstamp": "2026-06-01T00:00:00.000+0000"})
    hubspot.start()
    salesforce.start()
    try:
        hubspot.inject(Fault(429, times=1, headers={"Retry-After": "0"}))
        salesforce.inject(Fault(503, times=1, path="/services/data"))
        fast = RetryPolicy(max_attempts=3, base_delay=0, timeout=5)
        with caplog.at_level(logging.DEBUG):
            stats = [land_entity(empty_warehouse, HubSpotSource(ConnectionInfo("hubspot_default", hubspot.url,
                                                                                password=token), policy=fast),
                                 "contacts", "run"),
                     land_entity(empty_warehouse, SalesforceSource(ConnectionInfo("salesforce_default", salesforce.url,
                                                                                   login="key", password=secret),
                                                                    entities=("leads",), policy=fast),
                                 "leads", "run")]
            with pytest.raises(Exception) as wrong:
                HubSpotSource(ConnectionInfo("hubspot_default", hubspot.url, password=token + "x"),
                              policy=fast).extract("contacts", None).__next__()
        text_seen = caplog.text + repr(stats) + str(wrong.value) + repr(ConnectionInfo("c", "h", password=secret))
        assert "retrying" in caplog.text  # the retries were logged ...
        assert token not in text_seen and secret not in text_seen  # ... without the credentials
    finally:
        hubspot.stop()
        salesforce.stop()


def test_lists_go_only_to_configured_destinations(empty_warehouse, tmp_path, monkeypatch):
    import shutil

    from smarketing.config import PATHS
    from smarketing.tasks import push_nurture_lists

    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(PATHS.root / "examples" / "file_drops" / "nurture.yaml", config / "nurture.yaml")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(config))
    hubspot = FakeHubSpot(token="t")
    hubspot.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps({"host": hubspot.url, "password": "t"}))
        assert push_nurture_lists(empty_warehouse, {}) == {}  # no program has the hubspot_list destination
        assert hubspot.calls() == 0
    finally:
        hubspot.stop()
