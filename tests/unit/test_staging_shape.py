"""A staging view that maps one record to one row is a flat select. PostgreSQL computes the columns
of a view built from CTEs (or any subquery) for every row of its latest table before a join narrows
them: an incremental merge's 40,000 email events paid the JSON parsing of all 615,000 at SCALE=1
(docs/performance.md). A flat select's columns are computed for the rows the join keeps."""

import re

from smarketing.models import code_of
from smarketing.transform import staging_views

# These aggregate, carry values forward with windows, or union two objects: they read whole
# tables whatever their shape.
WHOLE_TABLE = {"stg_hubspot__deal_stage_history", "stg_hubspot__deal_stages", "stg_salesforce__activities"}


def test_every_per_record_staging_view_is_a_flat_select():
    nested = sorted(view for view, sql in staging_views() if view.startswith("stg_") and view not in WHOLE_TABLE
                    and re.search(r"\bwith\s+\w+\s+as\s*\(|\bfrom\s*\(", code_of(sql)))
    assert nested == []
    assert {view for view, _ in staging_views()} >= WHOLE_TABLE
