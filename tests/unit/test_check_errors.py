"""A check Great Expectations could not evaluate is found wherever its result puts the error: at
the top (the expectation failed) or under the id of the metric that failed. Found: a close date in
year 10000 failed the range check's metric (Python holds no such date); the check reported no
failing row, quarantined nothing, and the batch passed. ``_validate`` holds the batch instead.
V045 makes such a date no value (tests/integration/test_quality.py), so the shape is pinned here,
with the message Great Expectations 1.x reported."""

from smarketing.quality import raised

METRIC_FAILED = {
    "('column_values.between.unexpected_count', '3f1c…', ())": {
        "exception_traceback": "Traceback (most recent call last): …",
        "exception_message": "(psycopg.DataError) date too large (after year 10K): '10000-01-01'",
        "raised_exception": True,
    },
}


def test_a_metric_that_failed_names_its_error():
    assert raised(METRIC_FAILED) == "(psycopg.DataError) date too large (after year 10K): '10000-01-01'"


def test_an_expectation_that_failed_names_its_error():
    assert raised({"raised_exception": True, "exception_message": "column 'x' does not exist",
                   "exception_traceback": "…"}) == "column 'x' does not exist"
    assert raised({"raised_exception": True, "exception_message": None}) == "raised an exception"


def test_a_check_that_ran_has_no_error():
    assert raised(None) is None
    assert raised({}) is None
    assert raised({"raised_exception": False, "exception_traceback": None, "exception_message": None}) is None
