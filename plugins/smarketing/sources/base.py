"""What every source gives the landing stage: pages of raw records, oldest version first."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class SourceError(RuntimeError):
    """A source failed in a way retrying will not fix (bad config, bad credentials)."""


@dataclass(frozen=True)
class RawRecord:
    """One version of one source record, payload kept whole."""

    record_id: str
    version_at: datetime  # the source's modification timestamp (UTC), the incremental cursor
    payload: dict[str, Any]
    is_deleted: bool = False


class Source(Protocol):
    """A system we extract from, e.g. HubSpot or Salesforce.

    ``extract`` yields pages ordered by ``version_at`` ascending, holding the records with
    ``version_at`` at or after ``since`` (all records when ``since`` is None), so the caller can
    commit a page and its cursor together and resume after a crash. The bound is inclusive:
    records sharing the cursor's timestamp across a page break are fetched again rather than
    skipped, and landing ignores versions it already has.
    """

    name: str
    entities: tuple[str, ...]

    def extract(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]: ...
