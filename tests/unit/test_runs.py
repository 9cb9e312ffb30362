from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from smarketing.runs import resolve_as_of


def event(as_of=None):
    return SimpleNamespace(extra={"as_of": as_of} if as_of else {})


def test_the_param_wins_over_everything():
    context = {
        "params": {"as_of": "2026-06-30"},
        "triggering_asset_events": {"raw": [event("2026-01-01")]},
        "data_interval_end": datetime(2026, 2, 1, tzinfo=UTC),
    }
    assert resolve_as_of(context) == date(2026, 6, 30)


def test_asset_triggered_runs_take_the_latest_as_of_of_their_events():
    context = {"params": {"as_of": None},
               "triggering_asset_events": {"raw": [event("2026-06-29"), event("2026-06-30"), event()]}}
    assert resolve_as_of(context) == date(2026, 6, 30)


def test_scheduled_runs_use_the_end_of_the_data_interval():
    context = {"params": {}, "data_interval_end": datetime(2026, 3, 2, tzinfo=UTC)}
    assert resolve_as_of(context) == date(2026, 3, 2)


def test_without_any_date_the_error_says_what_to_pass():
    with pytest.raises(ValueError, match="as_of"):
        resolve_as_of({"params": {}})
