"""The mailbox key: which mailbox an address reaches, whatever its spelling.

One rule for identity resolution, email events, consent, suppression, manual suppression, list
building and the push: Unicode NFC; surrounding whitespace removed; lower-cased and case-folded
(every letter, not only ASCII: final sigma, long s, dotted capital I); the ``+tag`` of the local
part dropped (unless nothing precedes it); an address written as ``Name <address>`` or with a
``mailto:`` prefix is that address; trailing dots of the domain dropped; for Gmail, dots of
the local part dropped and ``googlemail.com`` read as ``gmail.com``; an internationalised domain's
labels in their ASCII form decoded (``xn--mnchen-3ya.de`` is ``münchen.de``).
``ANNA.Berg+News@Example.com `` and ``anna.berg@example.com`` are one mailbox.

The warehouse computes it with ``core.mailbox_key`` (``sql/schema/V016__mailbox_key.sql``);
this is its twin for the command line and tests, checked equal by
``tests/integration/test_mailbox_key.py``. The lower-casing does not depend on the server's
collation: ASCII letters through ``lower()`` under collation C, every other letter through a
fixed table (``LOWER_FROM``/``LOWER_TO``, Unicode simple lower-case mappings).
"""

from __future__ import annotations

import re
import unicodedata

# Removed from both ends of an address: ASCII whitespace, no-break space, byte-order mark and
# zero-width space (spreadsheets and CRM exports carry all of them).
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\ufeff\u200b"
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
# Good enough to tell an address from a typo at the command line; the sources' own validation
# (the GX suites) decides which records are quarantined.
ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Every character with a case mapping lies in the first two planes (the last cased script, Adlam,
# ends at U+1E943); tests/unit/test_mailbox_table.py checks the planes above. Reading the other
# fifteen at every import cost a second in each process (each Airflow task, each command).
CASED_BELOW = 0x20000


def _lower_table() -> tuple[str, str]:
    """Every non-ASCII character whose one-character lower case, case-folded where that is one
    character too, differs from it: ``Ä``→``ä``, ``Σ``/``ς``→``σ``, ``ſ``→``s``, ``İ``→``i``."""
    upper, lower = [], []
    for code in range(0x80, CASED_BELOW):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        folded = char.lower() if len(char.lower()) == 1 else ("i" if char == "\u0130" else char)
        if len(folded.casefold()) == 1:
            folded = folded.casefold()
        if folded != char:
            upper.append(char)
            lower.append(folded)
    return "".join(upper), "".join(lower)


LOWER_FROM, LOWER_TO = _lower_table()
_LOWER = str.maketrans(LOWER_FROM, LOWER_TO)


def fold(email: str) -> str:
    """NFC, trimmed, lower case by the fixed tables (``core.email_fold``)."""
    trimmed = unicodedata.normalize("NFC", email).strip(WHITESPACE)
    ascii_lower = "".join(c.lower() if c < "\x80" else c for c in trimmed)
    return ascii_lower.translate(_LOWER)


def _unicode_label(label: str) -> str:
    """An ``xn--`` label as the Unicode it encodes (punycode, RFC 3492: ``core.punycode_label``);
    unchanged when it is not valid punycode, longer than DNS allows (63), or decodes to ASCII only
    (another name), to a control character or to a surrogate."""
    if not label.startswith("xn--") or len(label) > 63:
        return label
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return label
    if decoded.isascii() or any(0xD800 <= ord(c) <= 0xDFFF or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
                                for c in decoded):
        return label
    return decoded


def mailbox_key(email: str | None) -> str | None:
    """The mailbox ``email`` reaches; None for None or an empty string (``core.mailbox_key``)."""
    if email is None:
        return None
    address = fold(email)
    wrapped = re.search(r"<([^<>]*)>[^<]*$", address)  # "Olga Wolf <olga@x.de>": the address inside
    if wrapped and "@" in wrapped.group(1):
        address = wrapped.group(1).strip(WHITESPACE)
    if address.startswith("mailto:"):
        address = address[len("mailto:"):]
    if "@" not in address:
        return address or None
    local, _, domain = address.partition("@")
    local = local.split("+", 1)[0] or local  # "+tag@x" has no base mailbox to fold into
    domain = domain.rstrip(".")
    if "xn--" in domain:
        domain = fold(".".join(_unicode_label(label) for label in domain.split(".")))
    if domain in GMAIL_DOMAINS:
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def is_address(email: str) -> bool:
    """Whether ``email`` looks like one address (used to refuse typos before they are stored)."""
    return bool(ADDRESS.match(mailbox_key(email) or ""))
