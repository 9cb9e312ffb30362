"""The nickname lists identity resolution reads: first names that may stand for one another.

English: the ``nicknames`` package (hand-curated by Carlton Northern and Nick Crews, Apache-2.0).
German, Austrian and Swiss: ``data/nicknames_de.csv``, in the same layout. Every name is written
as identity compares names (``smarketing.names``), so "Günni" meets "Günther" and "Guenther".
``pairs()`` gives (name, canonical) rows: the formal names a name is a nickname of; identity
matches two first names when one is the other or among its canonicals (Bob and Robert, Sepp and
Josef, Liz and Elizabeth).

The English list also relates names that are given names of their own (it has Emil for Emily,
Polly for Paul, Elena for Helen): a nickname is read only when it is shorter than its formal name,
and ``DISTINCT`` names a few more pairs that are two names, not one.
"""

from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

from nicknames import name_triplets

from smarketing.names import normalize_person_name

GERMAN = Path(__file__).with_name("data") / "nicknames_de.csv"
# (nickname, formal name) pairs of the English list read as two names: each is common on its own
DISTINCT = {("anna", "hannah"), ("anna", "savannah"), ("anna", "bryanna"), ("lena", "katherine"),
            ("ella", "helen")}


def _german() -> list[tuple[str, str]]:
    lines = [line for line in GERMAN.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return [(row["name1"], row["name2"]) for row in csv.DictReader(lines) if row["relationship"] == "has_nickname"]


@lru_cache(maxsize=1)
def pairs() -> tuple[tuple[str, str], ...]:
    """(nickname, formal name) rows of both lists, normalised, without repeats."""
    english = [(t.name1, t.name2) for t in name_triplets() if t.relationship == "has_nickname"]
    out = set()
    for formal, nickname in [*english, *_german()]:
        name, canonical = normalize_person_name(nickname), normalize_person_name(formal)
        if name and canonical and len(name) < len(canonical) and (name, canonical) not in DISTINCT:
            out.add((name, canonical))
    return tuple(sorted(out))


def digest() -> str:
    """Changes with the lists: a merge under other lists matches every record again."""
    return hashlib.sha256(repr(pairs()).encode()).hexdigest()[:16]
