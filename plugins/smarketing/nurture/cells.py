"""Cells of the CSV files lists are written as: what a spreadsheet would run is made text."""

from __future__ import annotations

import re

# A cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection), also
# after leading blanks some importers trim, and in their full-width forms some read as the ASCII ones.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def spreadsheet_safe(value: object) -> object:
    """``value`` for a CSV cell: text a spreadsheet would run as a formula gets a leading ``'``
    (OWASP's advice); numbers, negative ones included, stay numbers."""
    if isinstance(value, str) and (value.startswith(FORMULA_START) or value.lstrip(" \u00a0").startswith(
            FORMULA_START)) and not NUMBER.match(value.strip()):
        return "'" + value
    return value
