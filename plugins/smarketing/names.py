"""A person's name as identity resolution compares it: the Python twin of
``core.normalize_person_name`` (``sql/schema/V033__person_names_in_any_alphabet.sql``), checked
equal by ``tests/integration/test_person_names.py``.

Lower case by the collation-free table of the mailbox key; accents and other combining marks
removed (Unicode NFKD); letters without a decomposition written out (ß ss, æ ae, œ oe, þ th, ø o,
ł l, đ and ð d, ı i, ħ h); the German transliterations ae, oe, ue read as their base letter, so
"Jürgen Müller", "Jurgen Muller" and "Juergen Mueller" are one name; punctuation and spaces of any
script one space. Letters of other scripts stay, lower-cased.
"""

from __future__ import annotations

import re
import unicodedata

from smarketing.mailbox import fold

_MARKS = re.compile("[\u0300-\u036f]")
_WRITTEN_OUT = (("ß", "ss"), ("æ", "ae"), ("œ", "oe"), ("þ", "th"))
_BASE = str.maketrans("øłđðıħς", "olddihσ")
_TRANSLITERATED = (("ae", "a"), ("oe", "o"), ("ue", "u"))
# ASCII whitespace and punctuation (the POSIX classes under collation C), Latin-1 punctuation and
# symbols, general punctuation, CJK punctuation, the byte-order mark
_SEPARATORS = re.compile("[\t\n\x0b\x0c\r !-/:-@\\[-`{-~\u00a0-\u00bf\u2000-\u206f\u3000-\u303f\ufeff]+")


def normalize_person_name(value: str | None) -> str | None:
    """``value`` as identity resolution compares names; None when nothing is left."""
    name = _MARKS.sub("", unicodedata.normalize("NFKD", fold(value or "")))
    for letter, written in _WRITTEN_OUT:
        name = name.replace(letter, written)
    name = name.translate(_BASE)
    for pair, base in _TRANSLITERATED:
        name = name.replace(pair, base)
    return _SEPARATORS.sub(" ", name).strip(" ") or None
