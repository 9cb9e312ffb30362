from sqlalchemy import text

from smarketing.landing import land_page
from smarketing.quality import DataQualityError, validate_pending
from smarketing.sources.demo import DemoSource, generate


def hubspot_contacts_page(emails):
    """A page of valid HubSpot contacts, with the given emails."""
    template = generate(seed=1, people=40).records[("hubspot", "contacts")][0]
    page = []
    for n, email in enumerate(emails):
        payload = {**template.payload, "id": str(n), "properties": {**template.payload["properties"], "email": email}}
        page.append(type(template)(str(n), template.version_at, payload))
    return page


def test_malformed_emails_are_quarantined_with_their_reason(empty_warehouse, warehouse_url, demo_dataset):
    source = DemoSource("hubspot", demo_dataset)
    for page in source.extract("contacts", None):
        land_page(empty_warehouse, "hubspot", "contacts", page, "run-1", page[-1].version_at)
    outcomes = validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")])
    versions = [r for r in demo_dataset.records[("hubspot", "contacts")] if not r.is_deleted]  # deletes skip checks
    assert [(o.suite, o.rows, o.quarantined) for o in outcomes] == [
        ("hubspot__contacts", len(versions), len(demo_dataset.malformed))
    ]
    with empty_warehouse.connect() as conn:
        quarantined = conn.execute(
            text("select record_id, reason from quarantine.records order by record_id")
        ).all()
        unvalidated = conn.execute(text("select count(*) from meta.batches where validated_at is null")).scalar()
        dq = conn.execute(
            text("select expectation, column_name, success, unexpected_count from meta.dq_results"
                 " where run_id = 'run-1' order by expectation, column_name")
        ).all()
    assert {rid for rid, _ in quarantined} == {rid for (_, _, rid) in demo_dataset.malformed}
    assert sorted(reason for _, reason in quarantined) == [
        "expect_column_values_to_match_regex failed on email: 'broken@@example'",
        "expect_column_values_to_match_regex failed on email: 'not-an-email'",
    ]
    assert unvalidated == 0
    assert dq == [
        ("expect_column_values_to_be_in_set", "lifecycle_stage", True, 0),
        ("expect_column_values_to_match_regex", "email", False, 2),
        ("expect_column_values_to_not_be_null", "created_at", True, 0),
        ("expect_column_values_to_not_be_null", "record_id", True, 0),
    ]


def test_a_batch_failing_beyond_the_threshold_stops_and_promotes_nothing(empty_warehouse, warehouse_url):
    page = hubspot_contacts_page([f"person{n}@example.com" for n in range(18)] + ["nope", "also nope"])
    land_page(empty_warehouse, "hubspot", "contacts", page, "run-1", page[-1].version_at)
    try:
        validate_pending(empty_warehouse, warehouse_url, "run-1", [("hubspot", "contacts")], max_failure_share=0.05)
    except DataQualityError as exc:
        message = str(exc)
    else:
        raise AssertionError("2 of 20 rows (10%) failing must stop the batch at a 5% threshold")
    assert "hubspot__contacts" in message and "2 of 20 rows (10.0%)" in message
    assert "expect_column_values_to_match_regex(email)" in message
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from meta.batches where validated_at is null")).scalar() == 1
        assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 0
        assert conn.execute(text("select count(*) from meta.dq_results where not success")).scalar() == 1

    # The same batch passes once the threshold allows it; the two bad rows are quarantined.
    validate_pending(empty_warehouse, warehouse_url, "run-2", [("hubspot", "contacts")], max_failure_share=0.2)
    with empty_warehouse.connect() as conn:
        assert conn.execute(text("select count(*) from quarantine.records")).scalar() == 2
