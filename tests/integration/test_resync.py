"""A full resync of one entity on demand: a record hard-deleted in Salesforce (gone even from
queryAll, so no incremental read can see it) leaves core and the marts, and no other entity is
read again."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from smarketing import config, tasks
from smarketing.demo.fakes import FakeHubSpot, connection_env
from tests.fixtures import nurture_without
from tests.integration.test_exchange_rates import org

AS_OF = date(2026, 6, 30)


def test_a_resync_lands_what_the_source_lost_as_deletions_and_leaves_the_rest(empty_warehouse, tmp_path,
                                                                               monkeypatch):
    (tmp_path / "sources.yaml").write_text("systems:\n  salesforce: {kind: salesforce}\n")
    (tmp_path / "nurture.yaml").write_text(nurture_without("mailchimp"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    with org() as salesforce, FakeHubSpot() as hubspot:
        for key, value in connection_env(hubspot, salesforce).items():
            monkeypatch.setenv(key, value)
        tasks.extract("salesforce", "run-1", AS_OF)
        del salesforce.tables["Opportunity"]["006X00000000002"]  # O-2, purged from the recycle bin
        tasks.extract("salesforce", "run-2", AS_OF)
        with empty_warehouse.connect() as conn:
            cursors = dict(conn.execute(text("select entity, cursor_at from meta.sync_state")).all())
        with pytest.raises(config.ConfigError, match="salesforce has no entity 'opportunity'"):
            tasks.extract("salesforce", "run-3", AS_OF, resync=["salesforce.opportunity"])
        before = salesforce.calls("/services/data/v62.0/queryAll")
        stats = tasks.extract("salesforce", "run-3", AS_OF, resync=["salesforce.opportunities"])
        queries = salesforce.calls("/services/data/v62.0/queryAll") - before
    tasks.validate("run-3", AS_OF)
    tasks.merge("run-3", AS_OF)
    tasks.refresh_kpis("run-3", AS_OF)
    with empty_warehouse.connect() as conn:
        live = conn.execute(text("select name from core.opportunity order by name")).scalars().all()
        june = conn.execute(text("select won from marts.funnel where month = '2026-06-01' and channel = 'all'")
                            ).scalar()
        after = dict(conn.execute(text("select entity, cursor_at from meta.sync_state")).all())
    assert stats["opportunities"] == {"received": 2, "new": 0, "pages": 1, "resync": True, "deleted": 1}
    assert stats["leads"] == {"received": 0, "new": 0, "pages": 0}, "the other entities went on from their cursors"
    assert queries == len(stats) and live == ["O-1", "O-3"] and june == 1
    assert {e: c for e, c in after.items() if e != "opportunities"} == \
        {e: c for e, c in cursors.items() if e != "opportunities"}
