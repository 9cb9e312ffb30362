"""Suppression decided again for what changed: every table the deciding statements read notes what
each statement changed in it (V055), so no new source of evidence can be read without being
watched. Whether a run's result equals deciding everything is checked from source records by every
run of tests/fixtures/runs.py."""

import re

from sqlalchemy import text

from smarketing.nurture.lists import SUPPRESSION_FILES
from smarketing.warehouse import sql_path

# read whole at every refresh (transient_evidence.sql), or written by the refresh itself
NOT_WATCHED = {"nurture.suppressed_mailbox", "nurture.suppressed"}
TRIGGERS = {"note_inserted", "note_updated", "note_deleted", "note_truncated"}


def test_every_table_the_deciding_statements_read_notes_its_changes(empty_warehouse):
    deciding = [name for name in SUPPRESSION_FILES if name != "nurture/transient_evidence.sql"]
    named = {match for name in deciding
             for match in re.findall(r"\b((?:core|nurture|quarantine|meta|raw)\.\w+)", sql_path(name).read_text())}
    with empty_warehouse.connect() as conn:
        def base_tables(relation: str) -> set[str]:
            kind = conn.execute(text("select table_type from information_schema.tables"
                                     " where table_schema || '.' || table_name = :r"), {"r": relation}).scalar()
            if kind == "BASE TABLE":
                return {relation}
            if kind != "VIEW":
                return set()  # a function
            used = conn.execute(text("select distinct table_schema || '.' || table_name"
                                     " from information_schema.view_table_usage"
                                     " where view_schema || '.' || view_name = :r"), {"r": relation}).scalars()
            return set().union(*(base_tables(u) for u in used))

        read = set().union(*(base_tables(r) for r in named)) - NOT_WATCHED
        triggers = {(table, name) for table, name in conn.execute(text(
            "select tgrelid::regclass::text, tgname from pg_trigger where not tgisinternal"))}
    assert {"core.email_event", "core.mailbox_consent", "core.consent", "core.person", "core.person_identity",
            "core.identity_record", "nurture.manual_suppression"} <= read  # the views are followed
    unwatched = {table for table in read for trigger in TRIGGERS if (table, trigger) not in triggers}
    assert not unwatched, f"read by the suppression statements but not noting their changes: {sorted(unwatched)}"
