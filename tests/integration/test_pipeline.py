"""The whole pipeline on the demo data, stage by stage, without Airflow."""

import csv
import hashlib
from datetime import date

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.warehouse import table_counts
from tests.conftest import live_records
from tests.fixtures import demo_story

AS_OF = date.fromisoformat(demo_story.AS_OF)


@pytest.fixture(scope="module")
def pipeline(engine, fake_apis):
    from tests.conftest import reset_warehouse

    reset_warehouse(engine)
    first = tasks.run_pipeline("test-run-1", AS_OF)
    return engine, first


def checksums(eng):
    """One digest per table of core, marts and nurture, over its rows in a stable order."""
    sums = {}
    with eng.connect() as conn:
        for table in table_counts(conn, ("core", "marts", "nurture")):
            rows = conn.exec_driver_sql(
                f"select md5(string_agg(t::text, '|' order by t::text)) from {table} as t"
            ).scalar()
            sums[table] = rows
    return sums


def test_the_pipeline_runs_as_its_owner_and_owns_all_it_made(pipeline):
    """Never as superuser (no role may run an object a less trusted role made, and the pipeline's
    own login cannot run programs on the server), and every table it created or swapped is its own."""
    from smarketing.warehouse import dbapi
    from tests.fixtures.ownership import owned_by_others

    eng, _ = pipeline
    with eng.connect() as conn:
        assert conn.exec_driver_sql("select rolname, rolsuper from pg_roles where rolname = current_user").one() == (
            "smarketing_owner", False)
        assert owned_by_others(dbapi(conn)) == []


def test_every_source_record_lands_once(pipeline, demo_dataset):
    eng, _ = pipeline
    with eng.connect() as conn:
        counts = table_counts(conn, ("raw",))
    landed = {table: n for table, n in counts.items() if n}
    assert landed == {f"raw.{system}__{entity}": demo_dataset.count(system, entity)
                      for (system, entity) in demo_dataset.records}
    assert counts["raw.file__leads"] == counts["raw.file__deals"] == counts["raw.hubspot__deals"] == 0


def test_every_live_person_record_is_linked_and_bad_ones_are_quarantined(pipeline, demo_dataset):
    eng, _ = pipeline
    person_records = live_records(demo_dataset) & set(demo_dataset.person_of) - demo_dataset.malformed
    with eng.connect() as conn:
        linked = set(conn.execute(text("select source, entity, source_record_id from core.person_identity")).all())
        opportunities = conn.execute(text("select count(*) from core.opportunity where person_id is not null")).scalar()
        quarantined = conn.execute(text("select count(*) from quarantine.records")).scalar()
    assert linked == person_records
    assert opportunities == demo_dataset.count("salesforce", "opportunities")
    assert quarantined == len(demo_dataset.malformed)


def test_no_person_mixes_two_humans_and_equal_emails_share_a_person(pipeline, demo_dataset):
    eng, _ = pipeline
    with eng.connect() as conn:
        links = conn.execute(text(
            "select i.source, i.entity, i.source_record_id, i.person_id, r.email"
            " from core.person_identity i join staging.int_person_records r"
            " on (r.source, r.entity, r.record_id) = (i.source, i.entity, i.source_record_id)"
        )).all()
    humans_per_person, persons_per_human_email = {}, {}
    for source, entity, record_id, person_id, email in links:
        human = demo_dataset.person_of[(source, entity, record_id)]
        humans_per_person.setdefault(person_id, set()).add(human)
        persons_per_human_email.setdefault((human, email), set()).add(person_id)
    assert all(len(humans) == 1 for humans in humans_per_person.values())
    assert all(len(persons) == 1 for persons in persons_per_human_email.values())


def test_june_funnel_matches_the_hand_computed_story(pipeline):
    eng, _ = pipeline
    with eng.connect() as conn:
        june = conn.execute(
            text("select leads, mqls, sqls, opportunities, won, won_amount from marts.funnel"
                 " where month = '2026-06-01' and channel = 'all'")
        ).mappings().one()
        months = conn.execute(text("select min(month), max(month), count(*) from marts.funnel"
                                   " where channel = 'all'")).one()
    assert dict(june) == demo_story.JUNE_FUNNEL
    assert months == (date(2025, 7, 1), date(2026, 6, 1), 12)


def test_sales_reps_are_named_from_salesforce_users(pipeline):
    """Opportunities carry a Salesforce user id as OwnerId; the User object names them."""
    eng, _ = pipeline
    with eng.connect() as conn:
        names = conn.execute(text("select distinct owner_name from marts.sales_performance")).scalars().all()
    assert sorted(names) == ["Jonas Brandt", "Marta Schulze-Öztürk"]


def test_recent_customers_list_is_the_hand_computed_one(pipeline):
    eng, stats = pipeline
    lists = stats["nurture"]["lists"]
    assert lists["recent_customers"]["members"] == 3
    assert lists["recent_customers"]["eligible"] == demo_story.RECENT_CUSTOMERS_ELIGIBLE
    path = lists["recent_customers"]["export_path"]
    assert path.endswith("nurture/recent_customers_2026-06-30.csv")
    with open(path, newline="") as handle:
        assert handle.read().replace("\r\n", "\n") == demo_story.RECENT_CUSTOMERS_CSV


def test_story_customers_are_suppressed_for_the_right_reason(pipeline):
    eng, _ = pipeline
    with eng.connect() as conn:
        rows = conn.execute(
            text("select email, reason from nurture.suppressed where email = any(:emails)"),
            {"emails": list(demo_story.STORY_SUPPRESSED)},
        ).all()
    reasons = {}
    for email, reason in rows:
        reasons.setdefault(email, set()).add(reason)
    assert reasons == demo_story.STORY_SUPPRESSED


def test_no_suppressed_person_is_on_any_list_or_file(pipeline):
    eng, stats = pipeline
    with eng.connect() as conn:
        suppressed = {e for (e,) in conn.execute(text("select email from nurture.suppressed where email is not null"))}
        listed = {e for (e,) in conn.execute(text("select email from nurture.list_members"))}
    exported = set()
    for info in stats["nurture"]["lists"].values():
        with open(info["export_path"], newline="") as handle:
            exported |= {row["email"] for row in csv.DictReader(handle)}
    assert suppressed, "the demo data has suppressed people"
    assert not suppressed & listed
    assert not suppressed & exported


def test_a_second_run_for_the_same_window_changes_nothing(pipeline, fake_apis):
    """The first run's pushes come back once through the extracts (the Mailchimp audience's new
    members; the Salesforce campaigns and their members): the next run lands that echo and changes
    no list. From then on a rerun of the window changes nothing."""
    eng, stats = pipeline
    path = stats["nurture"]["lists"]["recent_customers"]["export_path"]
    echo = tasks.run_pipeline("test-run-1", AS_OF)
    landed = {(key, entity): s["new"] for key, v in echo.items() if key.startswith("extract_")
              for entity, s in v.items() if s["new"]}
    pushed = stats["nurture"]["pushes"]
    mailchimp = fake_apis[2]
    audience = set().union(*(mailchimp.tagged("demo_audience", f"Smarketing · {key.split('.')[0]}")
                             for key in pushed if key.endswith(".mailchimp")))  # it started empty
    campaigns = sum(1 for key in pushed if key.endswith(".salesforce_campaign"))
    members = sum(r["added"] for key, r in pushed.items() if key.endswith(".salesforce_campaign"))
    assert audience and members, "the demo pushes to Mailchimp and Salesforce campaigns"
    assert landed == {("extract_mailchimp", "members"): len(audience),
                      ("extract_salesforce", "campaigns"): campaigns,
                      ("extract_salesforce", "campaign_members"): members}
    assert all(r["added"] == r["removed"] == 0 for r in echo["nurture"]["pushes"].values())
    before = checksums(eng)
    file_before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    again = tasks.run_pipeline("test-run-1", AS_OF)
    assert all(s["new"] == 0 for key, v in again.items() if key.startswith("extract_") for s in v.values())
    assert checksums(eng) == before
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == file_before


