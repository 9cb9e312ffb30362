"""The mailbox key's lower-case table reads only the planes where case mappings exist."""

import sys

from smarketing.mailbox import CASED_BELOW, LOWER_FROM, LOWER_TO, fold


def test_no_character_above_the_table_bound_has_a_case_mapping():
    cased = [hex(code) for code in range(CASED_BELOW, sys.maxunicode + 1)
             if chr(code).lower() != chr(code) or chr(code).casefold() != chr(code)]
    assert cased == []


def test_the_table_holds_letters_from_both_planes_read():
    assert fold("ÄΣſİ") == "äσsi"
    assert fold("\U0001e900") == "\U0001e922"  # Adlam capital alif, in the second plane
    assert len(LOWER_FROM) == len(LOWER_TO) > 1000
