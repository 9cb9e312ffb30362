"""Every setting has an effect: for each key of each file in config/ (as the models in
smarketing/settings.py define them), changing it changes what a user sees: a mart, a list, a
file, a push, a suppression, a validation result, a landed record or a person.

The demo is run once into the session's warehouse; validation, extraction and file drops are
observed in a second database so they cannot disturb it. Each observation runs the stage that
reads the key, once with the shipped configuration and once with the key changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from smarketing import embedded, tasks, warehouse
from smarketing import settings as config_files
from smarketing.config import PATHS, with_database
from smarketing.landing import land_page
from smarketing.sources.base import RawRecord
from tests.conftest import SERVER

AS_OF = date(2026, 6, 30)
NOW = datetime.now(UTC).replace(microsecond=0)


def leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key a user can write, as dotted paths; '*' stands for a name the user chooses."""
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        inner = args[1] if origin is dict and len(args) == 2 else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= leaf_keys(annotation, f"{prefix}{name}.")
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= leaf_keys(inner, f"{prefix}{name}.*.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


DOCUMENTED = {f"{file}:{key}" for file, model in config_files.MODELS.items() for key in leaf_keys(model)}


# -- the observers: what a user sees of one stage ------------------------------------------------------

def digest(conn, query: str) -> str:
    rows = conn.exec_driver_sql(query).all()
    return hashlib.md5(repr(rows).encode()).hexdigest()


def see_marts(world) -> Any:
    from smarketing.kpis import kpi_settings, refresh_marts

    marts = refresh_marts(world.engine, AS_OF, kpi_settings())
    with world.engine.connect() as conn:
        return {m: digest(conn, f"select * from marts.{m} order by 1, 2") for m in marts}


def see_nurture(world) -> Any:
    from smarketing.nurture.lists import build_lists
    from smarketing.nurture.programs import load_programs, nurture_settings

    with world.engine.begin() as conn:
        conn.exec_driver_sql("truncate nurture.list_members, nurture.list_membership, nurture.list_runs,"
                             " nurture.platform_sync")
        for view in conn.exec_driver_sql("select viewname from pg_views where schemaname = 'nurture'").scalars():
            conn.exec_driver_sql(f"drop view nurture.{view}")
    for fake in world.hubspots:
        fake.lists.clear()
        fake.requests.clear()
    _, org, mailchimp = world.fakes
    mailchimp.clear()
    for sobject in ("Campaign", "CampaignMember"):
        org.tables[sobject].clear()
        org.tables[sobject].update(world.campaigns[sobject])
    exports = world.tmp / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    shutil.rmtree(PATHS.exports / "agency", ignore_errors=True)
    shutil.rmtree(PATHS.exports / "agency_eu", ignore_errors=True)
    settings = nurture_settings()
    suppressed = build_lists(world.engine, list(load_programs().values()), AS_OF, "effects", settings,
                             exports).suppressed
    errors: list[str] = []
    tasks.push_nurture_lists(world.engine, settings, errors)
    with world.engine.connect() as conn:
        members = conn.exec_driver_sql("select program, person_id from nurture.list_members order by 1, 2").all()
        comments = conn.exec_driver_sql("select c.relname, obj_description(c.oid) from pg_class c join pg_namespace n"
                                        " on n.oid = c.relnamespace where n.nspname = 'nurture' and c.relkind = 'v'"
                                        " order by 1").all()
    files = {p.name: (p.read_text(), oct(p.stat().st_mode), p.stat().st_gid)
             for p in sorted((exports / "nurture").glob("*.csv"))}
    platform = [sorted((item["name"], len(item["members"])) for item in fake.lists.values()) for fake in world.hubspots]
    campaigns = {c["Id"]: c["Name"] for c in org.tables["Campaign"].values()
                 if c["Id"] not in world.campaigns["Campaign"]}
    campaign_members = sorted((campaigns[m["CampaignId"]], m["Status"], m.get("ContactId") or m.get("LeadId"))
                              for m in org.tables["CampaignMember"].values() if m["CampaignId"] in campaigns)
    shared = {str(p.relative_to(PATHS.exports)): (p.read_text(), oct(p.stat().st_mode))
              for folder in ("agency", "agency_eu") for p in sorted((PATHS.exports / folder).glob("*"))
              if not p.name.endswith(".done")} | {
             str(p.relative_to(PATHS.exports)): "marker" for p in sorted(PATHS.exports.glob("agency*/*.done"))}
    return (suppressed, members, comments, files, platform, [fake.calls() for fake in world.hubspots],
            {name: sorted(addresses) for name, addresses in mailchimp.tags("demo_audience").items()},
            campaign_members, shared, errors)


def see_identity(world) -> Any:
    """An ordinary merge: changed identity settings make it recompute every person by itself."""
    from smarketing.transform import merge_core

    merge_core(world.engine, AS_OF)
    with world.engine.connect() as conn:
        return conn.exec_driver_sql("select person_id, email, first_name, last_name, company_name, owner_id,"
                                    " source_channel from core.person where merged_into_person_id is null"
                                    " and not is_deleted order by person_id").all()


def see_core_amounts(world) -> Any:
    """An ordinary merge (changed money or custom field settings recompute core by themselves): each
    opportunity's amount, currency and custom fields."""
    from smarketing.transform import merge_core

    merge_core(world.engine, AS_OF)
    with world.engine.connect() as conn:
        return conn.exec_driver_sql("select source_record_id, amount, currency, product_line, custom::text"
                                    " from core.opportunity order by 1").all()


def see_validation(world) -> Any:
    """Fixed rows validated in the second database: each row's fate, per check."""
    from tests.integration.test_quality import contact, event, opportunity, statuses

    eng = world.side
    with eng.begin() as conn:
        conn.exec_driver_sql("truncate meta.batches, meta.dq_results, quarantine.records")
        for table in conn.exec_driver_sql("select tablename from pg_tables where schemaname = 'raw'").scalars():
            conn.exec_driver_sql(f"truncate raw.{table}")
    past, soon = NOW - timedelta(days=3), NOW + timedelta(minutes=30)
    pages = {
        ("hubspot", "contacts"): [("c-ok", contact()), ("c-soon", contact(created=soon)),
                                  ("c-stage", contact(stage="evangelist"))],
        ("hubspot", "email_events"): [("e-open", event()), ("e-print", event(kind="PRINT"))],
        ("hubspot", "subscription_statuses"): [("s-ok", statuses(("SUBSCRIBED", "NON_GDPR"))),
                                               ("s-no", statuses(("NOT_SUBSCRIBED", "CONSENT_WITH_NOTICE")))],
        ("salesforce", "opportunities"): [(f"o-ok-{n}", opportunity(close="2026-09-30")) for n in range(20)] + [
                                          ("o-chf", opportunity(currency="CHF")),
                                          ("o-neg", opportunity(stage="Negotiation/Review")),
                                          ("o-old", opportunity(close="2001-06-01")),
                                          ("o-far", opportunity(close=f"{NOW.year + 4}-01-15")),
                                          ("o-bad", opportunity(amount=-1))],  # 1 of 26: within 5 %
        ("mailchimp", "members"): [(f"m-{n}", {"id": f"m-{n}", "email_address": f"m{n}@example.com",
                                               "status": "transactional" if n == 0 else "subscribed",
                                               "last_changed": past.isoformat()}) for n in range(21)],
    }
    land_page(eng, "salesforce", "accounts", [RawRecord("001A", past, {"Name": "A", "CreatedDate": past.strftime(
        "%Y-%m-%dT%H:%M:%S.000+0000")})], "effects", past)
    for (source, entity), rows in pages.items():
        land_page(eng, source, entity, [RawRecord(r, past, p) for r, p in rows], "effects", past)
    try:
        outcome, stats = "passed", tasks.validate("effects", AS_OF)
    except Exception as exc:  # noqa: BLE001 - the failure is the observation
        outcome, stats = str(exc).split(";")[0], {}
    processes = len({suite["process"] for suite in stats.values() if isinstance(suite, dict)})
    with eng.connect() as conn:
        quarantined = conn.exec_driver_sql("select record_id, expectation from quarantine.records order by 1").all()
        warned = conn.exec_driver_sql("select suite, check_name, unexpected_count from meta.dq_results"
                                      " where not success order by 1, 2").all()
    return outcome, quarantined, warned, processes


def see_data_docs(world) -> Any:
    """Two validation runs in the second database, each with a page of contacts: the runs whose
    pages the Data Docs keep."""
    import os
    import tempfile

    from smarketing import data_docs
    from tests.integration.test_quality import contact

    eng, site = world.side, Path(tempfile.mkdtemp(dir=world.tmp))
    with eng.begin() as conn:
        conn.exec_driver_sql("truncate meta.batches, meta.dq_results, quarantine.records, raw.hubspot__contacts")
    before = os.environ["SMARKETING_DATA_DOCS_DIR"]
    os.environ["SMARKETING_DATA_DOCS_DIR"] = str(site)
    try:
        for n in (1, 2):
            land_page(eng, "hubspot", "contacts", [RawRecord(f"c-{n}", NOW - timedelta(days=n), contact())],
                      f"docs-{n}", NOW - timedelta(days=n))
            tasks.validate(f"docs-{n}", AS_OF)
    finally:
        os.environ["SMARKETING_DATA_DOCS_DIR"] = before
    return [run.name for run in data_docs.runs(site)]


def see_extraction(world) -> Any:
    from smarketing.sources import systems

    """Every configured system extracted twice into the second database from the demo fakes."""
    eng = world.side
    with eng.begin() as conn:
        conn.exec_driver_sql("truncate meta.batches, meta.sync_state")
        for table in conn.exec_driver_sql("select tablename from pg_tables where schemaname = 'raw'").scalars():
            conn.exec_driver_sql(f"truncate raw.{table}")
    for fake in world.fakes:
        fake.requests.clear()
    world.fakes[2].clear()  # the audience as every observation finds it, whatever the nurture observations pushed
    world.fakes[2].add_member("demo_audience", "left@example.com", "unsubscribed")
    runs = []
    for run in ("first", "second"):
        try:
            runs.append({system: tasks.extract(system, run, AS_OF) for system in systems()})
        except Exception as exc:  # noqa: BLE001 - the failure is the observation
            runs.append(str(exc).split(";")[0])
    with eng.connect() as conn:
        opportunity_fields = sorted(conn.exec_driver_sql(
            "select distinct jsonb_object_keys(payload) from raw.salesforce__opportunities").scalars())
    return runs, opportunity_fields, [fake.calls() > 0 for fake in world.fakes]


def see_deal_settings(world) -> Any:
    """The shared stage each HubSpot pipeline stage counts as, and whose deals count, as the merge
    writes them (rolled back)."""
    from smarketing.transform import apply_deal_settings, deal_settings

    with world.engine.connect() as conn, conn.begin() as transaction:
        apply_deal_settings(conn, deal_settings())
        stages = conn.exec_driver_sql("select pipeline_id, stage_id, stage from staging.stg_hubspot__deal_stages"
                                      " order by 1, 2").all()
        counted = conn.exec_driver_sql("select source, count(*) from staging.int_opportunities"
                                       " group by 1 order by 1").all()
        transaction.rollback()
    return stages, counted


def see_demo_dataset(world) -> Any:
    from smarketing.sources import demo_dataset_of

    data = demo_dataset_of()
    return sorted((key, len(records)) for key, records in data.records.items()), sorted(data.person_of.items())[:20]


def see_file_drops(world) -> Any:
    eng = world.side
    with eng.begin() as conn:
        conn.exec_driver_sql("truncate meta.file_loads, meta.batches, quarantine.records")
        for table in conn.exec_driver_sql("select tablename from pg_tables where schemaname = 'raw'"
                                          " and starts_with(tablename, 'file__')").scalars():
            conn.exec_driver_sql(f"truncate raw.{table}")
    try:
        outcome = tasks.load_file_drops("effects", AS_OF)
    except Exception as exc:  # noqa: BLE001 - the failure is the observation
        outcome = str(exc)
    with eng.connect() as conn:
        landed = conn.exec_driver_sql("select 'leads', record_id, payload from raw.file__leads union all"
                                      " select 'deals', record_id, payload from raw.file__deals order by 1, 2").all()
        quarantined = conn.exec_driver_sql("select record_id, reason from quarantine.records order by 1").all()
    return outcome, [(kind, rid, json.dumps(p, sort_keys=True)) for kind, rid, p in landed], quarantined


# -- the changes: key -> (observer, edit of the file's YAML) ---------------------------------------------

def at(path: str) -> Callable[[Callable[[Any], Any]], Callable[[dict], None]]:
    """An edit applying ``change`` to the value at a dotted ``path`` of the YAML document."""
    def wrap(change):
        def edit(doc):
            *parents, last = path.split(".")
            node = doc
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = change(node.get(last))
        return edit
    return wrap


def each_program(field: str, change) -> Callable[[dict], None]:
    def edit(doc):
        for spec in doc["programs"].values():
            spec[field] = change(spec.get(field))
    return edit


def each_system(field: str, change) -> Callable[[dict], None]:
    def edit(doc):
        for spec in doc["systems"].values():
            spec[field] = change(spec.get(field))
    return edit


def each_drop(field: str, change) -> Callable[[dict], None]:
    def edit(doc):
        for spec in doc["drops"].values():
            spec[field] = change(spec.get(field))
    return edit


EFFECTS: dict[str, tuple[Callable, Callable[[dict], None]]] = {
    "kpis:fiscal_year_start_month": (see_marts, at("fiscal_year_start_month")(lambda _: 4)),
    "kpis:lead_response_sla_hours": (see_marts, at("lead_response_sla_hours")(lambda _: 200)),
    # each of the calendar's keys: tests/integration/test_lead_response_hours.py
    "kpis:lead_response_business_hours": (see_marts, at("lead_response_business_hours")(lambda _: {
        "days": ["Mon"], "start": "09:00", "end": "10:00"})),
    "kpis:attribution_lookback_days": (see_marts, at("attribution_lookback_days")(lambda _: 1)),
    "kpis:marketing_channels": (see_marts, at("marketing_channels")(lambda _: [])),
    "kpis:stage_probabilities": (see_marts, at("stage_probabilities")(lambda v: {k: 50 for k in v})),
    "kpis:abc_thresholds": (see_marts, at("abc_thresholds")(lambda _: [0.3, 0.5])),
    "nurture:programs.*.description": (see_nurture, each_program("description", lambda _: "changed")),
    "nurture:programs.*.eligibility": (see_nurture, lambda doc: doc["programs"]["cross_sell"].update(
        eligibility="nurture/programs/win_back.sql", params={"min_days_since_purchase": 1})),
    "nurture:programs.*.params": (see_nurture, each_program("params", lambda _: {
        "window_days": 400, "from_line": "Automation", "to_line": "Analytics", "contract_months": 1,
        "min_days_ahead": 0, "max_days_ahead": 900, "min_days_since_purchase": 1})),
    "nurture:programs.*.fields": (see_nurture, each_program("fields", lambda _: ["email"])),
    "nurture:programs.*.destinations": (see_nurture, each_program("destinations", lambda _: ["view"])),
    "nurture:suppression.require_legal_basis": (see_nurture, at("suppression.require_legal_basis")(lambda _: False)),
    "nurture:suppression.hard_bounce_categories": (see_nurture, at("suppression.hard_bounce_categories")(
        lambda _: ["MAILBOX_FULL"])),
    "nurture:suppression.excluded_domains": (see_nurture, at("suppression.excluded_domains")(
        lambda _: ["granitebank.com"])),
    "nurture:destinations.csv.file_mode": (see_nurture, at("destinations.csv.file_mode")(lambda _: "0600")),
    "nurture:destinations.csv.group": (see_nurture, at("destinations.csv.group")(lambda _: "daemon")),
    "nurture:destinations.hubspot_list.conn_id": (see_nurture, at("destinations.hubspot_list.conn_id")(
        lambda _: "hubspot_other")),
    "nurture:destinations.hubspot_list.list_name_prefix": (see_nurture, at("destinations.hubspot_list."
                                                                           "list_name_prefix")(lambda _: "CRM ")),
    "nurture:destinations.mailchimp.system": (see_nurture, at("destinations.mailchimp.system")(
        lambda _: "mailchimp_eu")),  # sources.yaml gains that system: see ALSO
    "nurture:destinations.mailchimp.tag_prefix": (see_nurture, at("destinations.mailchimp.tag_prefix")(
        lambda _: "CRM ")),
    "nurture:destinations.salesforce_campaign.system": (see_nurture, at("destinations.salesforce_campaign.system")(
        lambda _: "salesforce_eu")),  # likewise
    "nurture:destinations.salesforce_campaign.campaign_name_prefix": (see_nurture, at(
        "destinations.salesforce_campaign.campaign_name_prefix")(lambda _: "CRM ")),
    "nurture:destinations.salesforce_campaign.member_status": (see_nurture, at(
        "destinations.salesforce_campaign.member_status")(lambda _: "Responded")),
    "nurture:destinations.files.url": (see_nurture, at("destinations.files.url")(lambda _: "agency_eu")),
    "nurture:destinations.files.marker": (see_nurture, at("destinations.files.marker")(lambda _: False)),
    "nurture:destinations.files.file_mode": (see_nurture, at("destinations.files.file_mode")(lambda _: "0600")),
    "quality:max_failure_share": (see_validation, at("max_failure_share")(lambda _: 0.01)),
    "quality:data_docs_runs_kept": (see_data_docs, at("data_docs_runs_kept")(lambda _: 1)),
    "quality:processes": (see_validation, at("processes")(lambda _: 1)),
    "quality:suites.*.max_failure_share": (see_validation, at("suites")(
        lambda _: {"salesforce__opportunities": {"max_failure_share": 0.01}})),
    "quality:parameters.pipeline_stages": (see_validation, at("parameters.pipeline_stages")(
        lambda v: [s for s in v if s != "Negotiation/Review"])),  # kpis.yaml follows: see ALSO
    "quality:parameters.currencies": (see_validation, at("parameters.currencies")(lambda _: ["EUR"])),
    "quality:parameters.lifecycle_stages": (see_validation, at("parameters.lifecycle_stages")(lambda _: ["lead"])),
    "quality:parameters.email_event_types": (see_validation, at("parameters.email_event_types")(lambda _: ["OPEN"])),
    "quality:parameters.subscription_statuses": (see_validation, at("parameters.subscription_statuses")(
        lambda _: ["SUBSCRIBED"])),
    "quality:parameters.legal_bases": (see_validation, at("parameters.legal_bases")(
        lambda _: ["CONSENT_WITH_NOTICE"])),
    "quality:parameters.mailchimp_member_statuses": (see_validation, at("parameters.mailchimp_member_statuses")(
        lambda _: ["subscribed", "unsubscribed", "cleaned", "pending"])),
    "quality:parameters.earliest_close_date": (see_validation, at("parameters.earliest_close_date")(
        lambda _: "2010-01-01")),
    "quality:parameters.close_date_years_ahead": (see_validation, at("parameters.close_date_years_ahead")(
        lambda _: 1)),
    "quality:parameters.clock_skew_minutes": (see_validation, at("parameters.clock_skew_minutes")(lambda _: 0)),
    "identity:generic_mailboxes": (see_identity, at("generic_mailboxes")(lambda _: ["shared"])),
    "identity:free_mail_domains": (see_identity, at("free_mail_domains")(lambda _: [])),
    "identity:fuzzy.enabled": (see_identity, at("fuzzy.enabled")(lambda _: False)),
    "identity:fuzzy.min_name_similarity": (see_identity, at("fuzzy.min_name_similarity")(lambda _: 0.99)),
    "identity:fuzzy.min_score": (see_identity, at("fuzzy.min_score")(lambda _: 14)),
    "identity:survivorship": (see_identity, at("survivorship")(lambda v: {k: list(reversed(o)) for k, o in v.items()})),
    "sources:systems.*.kind": (see_extraction, at("systems.hubspot.kind")(lambda _: "demo")),
    "sources:systems.*.conn_id": (see_extraction, at("systems.hubspot.conn_id")(lambda _: "hubspot_other")),
    "sources:systems.*.audience_id": (see_extraction, at("systems.mailchimp.audience_id")(lambda _: "eu_audience")),
    "sources:systems.*.lookback_minutes": (see_extraction, each_system("lookback_minutes", lambda _: 7 * 24 * 60)),
    # (a platform's system keeps where its unsubscribes come from: config check refuses less)
    "sources:systems.*.entities": (see_extraction, at("systems.hubspot.entities")(lambda _: ["contacts"])),
    "sources:systems.*.extra_fields": (see_extraction, at("systems.salesforce.extra_fields")(
        lambda _: {"opportunities": ["NextStep"]})),
    # the field's name and type in core: tests/integration/test_hubspot_crm.py
    "sources:systems.*.custom_fields": (see_core_amounts, at("systems.salesforce.custom_fields")(lambda _: {})),
    "kpis:reporting_timezone": (see_marts, at("reporting_timezone")(lambda _: "Pacific/Kiritimati")),
    "kpis:reporting_currency": (see_core_amounts, at("reporting_currency")(lambda _: "USD")),
    "kpis:exchange_rates": (see_core_amounts, at("exchange_rates")(lambda _: {"USD": 0.9})),
    "sources:systems.*.deal_stages": (see_deal_settings, at("systems.hubspot.deal_stages")(
        lambda v: {**v, "qualifiedtobuy": "Prospecting"})),
    "sources:deals_system_of_record": (see_deal_settings, at("deals_system_of_record")(lambda _: "hubspot")),
    "sources:demo.seed": (see_demo_dataset, at("demo.seed")(lambda _: 8)),
    "sources:demo.people": (see_demo_dataset, at("demo.people")(lambda _: 30)),
    "file_drops:drops.*.entity": (see_file_drops, lambda doc: doc["drops"]["crm_closed_deals"].update(
        entity="leads", columns={}, required=[], constants={})),  # the deals' mapping is no lead's
    "file_drops:drops.*.location": (see_file_drops, at("drops.crm_closed_deals.location")(
        lambda v: v.replace("deals", "leads"))),
    "file_drops:drops.*.pattern": (see_file_drops, each_drop("pattern", lambda _: "leads_2026-05.csv")),
    "file_drops:drops.*.format": (see_file_drops, each_drop("format", lambda _: "jsonl")),
    "file_drops:drops.*.mode": (see_file_drops, each_drop("mode", lambda _: "snapshot")),
    "file_drops:drops.*.delimiter": (see_file_drops, each_drop("delimiter", lambda _: "\t")),
    "file_drops:drops.*.encoding": (see_file_drops, each_drop("encoding", lambda _: "utf-16")),
    "file_drops:drops.*.id_column": (see_file_drops, at("drops.crm_closed_deals.id_column")(lambda _: "Segment")),
    "file_drops:drops.*.columns": (see_file_drops, each_drop("columns", lambda _: {})),
    "file_drops:drops.*.required": (see_file_drops, at("drops.crm_leads.required")(lambda _: ["email"])),
    "file_drops:drops.*.constants": (see_file_drops, at("drops.crm_closed_deals.constants")(
        lambda _: {"currency": "CHF"})),
    "file_drops:drops.*.values": (see_file_drops, at("drops.crm_leads.values")(
        lambda _: {"origin_channel": {"Paid search": "paid_search"}})),
    "file_drops:drops.*.timezone": (see_file_drops, each_drop("timezone", lambda _: "Pacific/Auckland")),
    "file_drops:drops.*.date_format": (see_file_drops, each_drop("date_format", lambda _: "%m/%d/%Y")),
    "file_drops:drops.*.decimal": (see_file_drops, each_drop("decimal", lambda _: ".")),
}


# Keys whose change another file must follow to stay valid: file -> edit of that file.
ALSO: dict[str, dict[str, Callable[[dict], None]]] = {
    "nurture:destinations.mailchimp.system": {"sources": lambda doc: doc["systems"].update(
        mailchimp_eu={"kind": "mailchimp", "audience_id": "eu_audience"})},
    "nurture:destinations.salesforce_campaign.system": {"sources": lambda doc: doc["systems"].update(
        salesforce_eu={"kind": "salesforce", "conn_id": "salesforce_other", "entities": ["contacts", "leads"]})},
    "quality:parameters.pipeline_stages": {"kpis": lambda doc: doc["stage_probabilities"].pop("Negotiation/Review"),
                                           "sources": lambda doc: doc["systems"]["hubspot"]["deal_stages"].pop(
                                               "contractsent")},
}


def test_every_documented_key_has_an_effect_test():
    assert set(EFFECTS) == DOCUMENTED, (f"keys without an effect test: {sorted(DOCUMENTED - set(EFFECTS))}; "
                                        f"tested keys no model has: {sorted(set(EFFECTS) - DOCUMENTED)}")


# -- the world the observers look at -------------------------------------------------------------------

class World:
    def __init__(self, engine, side, tmp: Path, fakes, hubspots) -> None:
        self.engine, self.side, self.tmp, self.fakes, self.hubspots = engine, side, tmp, fakes, hubspots
        # the Salesforce org's campaigns of the demo dataset, before any push
        self.campaigns = {sobject: {k: v for k, v in fakes[1].tables[sobject].items()
                                    if not str(v.get("Name", "")).startswith("Smarketing")
                                    and v.get("CampaignId") not in pushed(fakes[1])}
                          for sobject in ("Campaign", "CampaignMember")}


def pushed(org) -> set[str]:
    """The ids of the campaigns the demo's nurture run made."""
    return {c["Id"] for c in org.tables["Campaign"].values() if str(c.get("Name", "")).startswith("Smarketing")}


@pytest.fixture(scope="module")
def world(engine, warehouse_url, fake_apis, tmp_path_factory):
    """The demo in the session's warehouse (plus one person whose owner the two CRMs disagree on and
    an opportunity without a probability),
    a second database for the stages observed in isolation, and a second HubSpot fake."""
    from smarketing.demo.fakes import FakeHubSpot
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    tasks.run_pipeline("effects", AS_OF)
    past = datetime(2026, 6, 20, tzinfo=UTC)
    hs_time, sf_time = past.strftime("%Y-%m-%dT%H:%M:%S.000Z"), past.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def hubspot(contact_id, email, first, last, company=None, owner=None):
        return RawRecord(contact_id, past, {"id": contact_id, "properties": {
            "email": email, "firstname": first, "lastname": last, "company": company, "hubspot_owner_id": owner,
            "createdate": hs_time}})

    def salesforce(contact_id, email, first, last, owner=None):
        return RawRecord(contact_id, past, {"Email": email, "FirstName": first, "LastName": last, "OwnerId": owner,
                                            "CreatedDate": sf_time})

    # records whose persons depend on config/identity.yaml: owners the CRMs disagree on (survivorship),
    # a typo'd name with a personal address at the same company (fuzzy), a shared office mailbox
    # under two names (generic_mailboxes), one name at one company with two free-mail addresses (two
    # addresses of one work domain would be two people: free_mail_domains)
    land_page(engine, "hubspot", "contacts", [
        hubspot("990001", "owen.test@granitebank.com", "Owen", "Test", "Granite Bank", owner="hs-7"),
        hubspot("990002", "owen.private@web.de", "Owen", "Tesst", "Granite Bank"),
        hubspot("990003", "office@granitebank.com", "Pia", "Alt"),
        hubspot("990004", "uwe.berg@gmail.com", "Uwe", "Berg", "Granite Bank"),
        hubspot("990005", "uwe.b@gmail.com", "Uwe", "Berg", "Granite Bank"),
    ], "effects", past)
    land_page(engine, "salesforce", "contacts", [
        salesforce("003OWNER", "owen.test@granitebank.com", "Owen", "Test", owner="005SF"),
        salesforce("003OFFICE", "office@granitebank.com", "Rolf", "Neu"),
    ], "effects", past)
    # an open opportunity without the CRM's probability: config/kpis.yaml's stage probabilities weigh it
    # ... and one in US dollars, which no source gives a rate for: config/kpis.yaml's rates convert it
    land_page(engine, "salesforce", "opportunities", [RawRecord("006NOPROB", past, {
        "StageName": "Qualification", "Amount": 10000, "CurrencyIsoCode": "EUR", "CloseDate": "2026-08-31",
        "IsClosed": False, "IsWon": False, "CreatedDate": sf_time}), RawRecord("006USD", past, {
        "StageName": "Closed Won", "Amount": 2500, "CurrencyIsoCode": "USD", "CloseDate": "2026-06-20",
        "IsClosed": True, "IsWon": True, "CreatedDate": sf_time})], "effects", past)
    tasks.validate("effects-extra", AS_OF)
    tasks.merge("effects-extra", AS_OF)

    side = warehouse.engine(embedded.fresh_database(SERVER, "smarketing_effects"))
    warehouse.migrate(side)
    other = FakeHubSpot(token="other-token")
    other.start()
    tmp = tmp_path_factory.mktemp("effects")
    shutil.copytree(PATHS.root / "examples" / "file_drops", tmp / "drops")
    yield World(engine, side, tmp, list(fake_apis), [fake_apis[0], other])
    other.stop()
    side.dispose()


@pytest.fixture
def config(world, monkeypatch, warehouse_url):
    """The shipped files plus the example file drops, in a folder the test edits."""
    folder = world.tmp / "config"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(PATHS.root / "config", folder)
    drops = yaml.safe_load((world.tmp / "drops" / "file_drops.yaml").read_text())
    for spec in drops["drops"].values():
        spec["location"] = str(world.tmp / "drops" / Path(spec["location"]).name)
    (folder / "file_drops.yaml").write_text(yaml.safe_dump(drops, allow_unicode=True))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(folder))
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_OTHER", json.dumps({"host": world.hubspots[1].url,
                                                                  "password": "other-token"}))
    return folder


BASELINES: dict[Callable, Any] = {}
SIDE_DATABASE = {see_validation, see_data_docs, see_extraction, see_file_drops}


@pytest.mark.parametrize("key", sorted(EFFECTS))
def test_changing_a_key_changes_what_users_see(world, config, monkeypatch, warehouse_url, key):
    observe, edit = EFFECTS[key]
    if observe in SIDE_DATABASE:
        monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", with_database(
            world.side.url.render_as_string(hide_password=False), "smarketing_effects", "postgresql"))
    if observe not in BASELINES:
        BASELINES[observe] = observe(world)
    file = key.split(":", 1)[0]
    path = config / f"{file}.yaml"
    for name, change in [(file, edit), *ALSO.get(key, {}).items()]:
        doc = yaml.safe_load((config / f"{name}.yaml").read_text())
        change(doc)
        (config / f"{name}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert config_files.check_all() == {}, "the changed file must still be valid"
    try:
        changed = observe(world)
    finally:
        if observe is see_identity:  # leave the shared warehouse as the other observers expect it
            path.write_text((PATHS.root / "config" / f"{file}.yaml").read_text())
            see_identity(world)
    assert changed != BASELINES[observe], f"changing {key} changed nothing a user sees"
