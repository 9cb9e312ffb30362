"""Identity resolution: the source records of one human become one ``core.person`` with a stable id.

1. Every live person record (HubSpot contact, Salesforce lead or contact, file-drop lead or
   contact) has normalised keys (name in any alphabet and its nickname forms, mailbox, company,
   phone, title, city, LinkedIn) and a fingerprint of them in ``core.identity_record``,
   recomputed for the records a merge promotes (``sql/identity/records.sql``).
2. Records that are new or whose fingerprint changed get match edges against all records
   (``sql/identity/edges.sql``): deterministic rules (the same mailbox, a converted lead's
   contact, a HubSpot merge, the ids of the HubSpot-Salesforce sync, a person's decision) and a
   fuzzy rule that weighs the evidence of candidate pairs found in blocks.
3. The records reachable from the changed ones are clustered (``_cluster``): deterministic edges
   join outright, fuzzy ones are weighed between whole persons under constraints (two work
   mailboxes of one domain, one record per source per human, decisions that two records differ);
   a true tie waits in ``core.identity_review`` for ``smarketing identity review``. Each cluster
   is one person. A person keeps its id while it keeps most of its records; when two persons turn
   out to be one, the older id survives, the other points to it (``merged_into_person_id``) and
   ``core.person_merge`` keeps the history. Every link records its rule, score and the record it
   matched.

Matching and blocking run in the warehouse; only the components of the affected records are
assembled here, so an incremental run touches what changed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from smarketing import models, nicknames
from smarketing.warehouse import analyze_if_grown, copy_rows, sql_path

log = logging.getLogger(__name__)

# The strongest evidence first: a person's decision, what the sources assert, the same mailbox, then weights.
RULE_RANK = {"review_same": 0, "crm_conversion": 1, "crm_sync": 2, "source_merge": 3, "email_exact": 4,
             "email_generic_same_name": 5, "fuzzy": 6}
# A changed record without company or work domain meets the same name anywhere, in blocks up to this size.
MAX_NAME_BLOCK = 200
# A phone number more records carry is a switchboard: neither a block nor evidence.
MAX_PHONE_RECORDS = 5


@dataclass
class IdentityStats:
    records: int = 0
    changed: int = 0
    affected: int = 0
    new_persons: int = 0
    merged_persons: int = 0
    relinked_records: int = 0
    deleted_persons: int = 0
    review_pairs: int = 0


def identity_settings(path: Path | None = None) -> dict[str, Any]:
    """``config/identity.yaml``, validated (``smarketing.settings.IdentitySettings``)."""
    from smarketing import settings

    return settings.load("identity", path=path)


# Bumped when the rules behind the settings change (2: names compared in any alphabet, V033;
# 3: evidence weights, nicknames and review decisions, V034; 4: a name anywhere matched from
# either record's side, which incremental merges had missed, and legal forms written with dots,
# V050; 5: a record split off a person no longer gets that person back, so joins later evidence
# undoes are undone; 6: a record without a company no longer bridges two employers; 7: accounts
# keyed by names in other scripts, V051 and V052, which persons find through the full refresh;
# 8: a domain in its ASCII form, xn--, is the same mailbox as in Unicode, V053; 9: xn-- labels
# that decode to ASCII or control characters kept, short legal forms, V056), so the next merge
# matches every record again under them.
RULES_VERSION = 9


def settings_digest(settings: dict[str, Any]) -> str:
    """A digest of the identity settings and rules: a merge under other settings than the last
    one recomputes core whole (transform.merge_core), and every record is matched again."""
    return hashlib.sha256(json.dumps({**settings, "rules_version": RULES_VERSION, "nicknames": nicknames.digest()},
                                     sort_keys=True, default=str).encode()).hexdigest()[:16]


def sql_params(settings: dict[str, Any]) -> dict[str, Any]:
    fuzzy = settings["fuzzy"]
    return {
        "settings_digest": settings_digest(settings),
        "generic_mailboxes": list(settings["generic_mailboxes"]),
        "free_mail_domains": list(settings["free_mail_domains"]),
        "fuzzy_enabled": fuzzy["enabled"],
        "min_name_similarity": fuzzy["min_name_similarity"],
        "min_score": fuzzy["min_score"],
        "max_name_block": MAX_NAME_BLOCK,
        "max_phone_records": MAX_PHONE_RECORDS,
    }


def _split(record_key: str) -> tuple[str, str, str]:
    source, entity, record_id = record_key.split(":", 2)
    return source, entity, record_id


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def source_of(key: str) -> str:
    """The source a record key belongs to, for one record per source per human: system and entity
    (``salesforce:leads``), and for a file drop also the system it names (``file:leads:crm``)."""
    parts = key.split(":", 3)
    return ":".join(parts[:3] if parts[0] == "file" and len(parts) == 4 else parts[:2])


@dataclass(frozen=True)
class Facts:
    """What clustering weighs of a record besides its edges: its personal work mailbox (domain,
    address), phone key, LinkedIn key and company key."""

    mailbox: tuple[str, str] | None = None
    phone: str | None = None
    linkedin: str | None = None
    company: str | None = None


# Edges that join nothing and ask a person instead: rule -> review reason.
REVIEW_ONLY = {"email_other_name": "mailbox_names"}
# What a fuzzy join of two persons that both hold a record of one source must weigh beyond min_score.
SAME_SOURCE_MARGIN = 3
# The weights of edges.sql that clustering re-weighs for whole persons: (same, different).
PERSON_WEIGHTS = {"phone": (8, -3), "linkedin": (10, -10)}


def _cluster(keys: set[str], edges: Sequence[Sequence[Any]], facts: Mapping[str, Facts] | None = None,
             apart: Sequence[tuple[str, str]] = (), min_score: float = 0.0,
             ) -> tuple[_UnionFind, dict[str, list[tuple[str, str]]]]:
    """Persons from match edges, and the records left to a person (record -> the records it tied with).

    Deterministic edges join records outright (strongest rule first), except two records a person
    decided are different (``apart``), which never share a person. Fuzzy edges are then weighed
    between whole persons: the best edge between them, with its phone and LinkedIn evidence
    replaced by that of all their records (a record matching another person's record by name,
    whose phone differs from one already in that person, loses the phone's weight). Persons are
    joined in order of weight, down to ``min_score``, when:

    - the join is the best (highest weight) of at least one of the two; when both already hold a
      record of one source (one record per source per human is the rule), it is the best of both
      and weighs ``SAME_SOURCE_MARGIN`` more than ``min_score``: name and company alone never make
      one human of two HubSpot contacts (such pairs go to review as ``same_source``); a source
      is a system's entity (``source_of``);
    - no two different personal work mailboxes of one domain end up in one person;
    - the person is not tied: its best matches are two persons that cannot be one (two mailboxes
      of one domain, a decision, or companies none of whose records share one while nothing
      matches the two: a record without a company never bridges two employers). When only one
      of those has no record of its sources yet, it goes there; otherwise the tie is returned for
      core.identity_review (``tie``: each record of the tied person -> the records it best matched).
    """
    facts = facts or {}
    uf = _UnionFind()
    members: dict[str, set[str]] = {key: {key} for key in keys}
    for key in keys:
        uf.find(key)
    kept_apart: dict[str, set[str]] = defaultdict(set)
    for left, right in apart:
        kept_apart[left].add(right)
        kept_apart[right].add(left)

    def allowed(a: str, b: str) -> bool:
        small, large = sorted((members[a], members[b]), key=len)
        return not any(kept_apart[x] & large for x in small if x in kept_apart)

    def join(a: str, b: str) -> str:
        uf.union(a, b)
        root = uf.find(a)
        members[root] |= members.pop(b if root == a else a)
        return root

    fuzzy: list[tuple[str, str, float, dict[str, Any]]] = []
    review: dict[str, set[tuple[str, str]]] = defaultdict(set)  # record -> (record, reason)
    for edge in sorted(edges, key=lambda e: (RULE_RANK.get(e[2], 9), e[0], e[1])):
        left, right, rule, score = edge[:4]
        if rule in REVIEW_ONLY:
            review[left].add((right, REVIEW_ONLY[rule]))
            continue
        if rule == "fuzzy":
            fuzzy.append((left, right, float(score), (edge[4] if len(edge) > 4 else None) or {}))
            continue
        a, b = uf.find(left), uf.find(right)
        if a != b and allowed(a, b):
            join(a, b)

    def summary(root: str) -> tuple[dict[str, set[str]], set[str], set[str], set[str]]:
        boxes: dict[str, set[str]] = defaultdict(set)
        phones: set[str] = set()
        linkedins: set[str] = set()
        sources: set[str] = set()
        for key in members[root]:
            f = facts.get(key, Facts())
            if f.mailbox:
                boxes[f.mailbox[0]].add(f.mailbox[1])
            if f.phone:
                phones.add(f.phone)
            if f.linkedin:
                linkedins.add(f.linkedin)
            sources.add(source_of(key))
        return boxes, phones, linkedins, sources

    def conflict(a: str, b: str) -> bool:
        (left, *_), (right, *_) = summary(a), summary(b)
        return any(left[d] != right[d] for d in left.keys() & right.keys()) or not allowed(a, b)

    def companies(root: str) -> set[str]:
        return {c for key in members[root] if (c := facts.get(key, Facts()).company)}

    def rivals(a: str, b: str) -> bool:
        """Two best matches that cannot be one: a conflict, or two employers nothing matches."""
        ours, theirs = companies(a), companies(b)
        hit = scores.get(a, {}).get(b)
        unmatched = hit is None or hit[0] < min_score
        return conflict(a, b) or bool(ours and theirs and not ours & theirs and unmatched)

    def weigh(a: str, b: str, score: float, evidence: dict[str, Any]) -> float:
        (_, phones_a, links_a, _), (_, phones_b, links_b, _) = summary(a), summary(b)
        for name, ours, theirs in (("phone", phones_a, phones_b), ("linkedin", links_a, links_b)):
            same, different = PERSON_WEIGHTS[name]
            pair = {"same": same, "different": different}.get(evidence.get(name, ""), 0)
            person = same if ours & theirs else (different if ours and theirs else 0)
            score += person - pair
        return score

    root_of = {key: uf.find(key) for key in keys}
    size_of = {root: len(group) for root, group in members.items()}
    # Each person's best matches, among the persons as the deterministic edges left them.
    # root -> root -> (weight, our record, their record, the edge's own score, its evidence)
    scores: dict[str, dict[str, tuple[float, str, str, float, dict[str, Any]]]] = defaultdict(dict)
    for left, right, score, evidence in fuzzy:
        a, b = uf.find(left), uf.find(right)
        if a == b:
            continue
        weight = weigh(a, b, score, evidence)
        for x, y, ours, theirs in ((a, b, left, right), (b, a, right, left)):
            if y not in scores[x] or weight > scores[x][y][0]:
                scores[x][y] = (weight, ours, theirs, score, evidence)
    def needed(a: str, b: str) -> float:
        return min_score + (SAME_SOURCE_MARGIN if summary(a)[3] & summary(b)[3] else 0)

    best: dict[str, set[str]] = {}
    tied: set[str] = set()
    for root, targets in scores.items():
        viable = {}
        for other, hit in targets.items():
            if hit[0] < min_score or conflict(root, other):
                continue
            if hit[0] >= needed(root, other):
                viable[other] = hit
            elif root < other:
                shared = min(summary(root)[3] & summary(other)[3])
                review[hit[1]].add((hit[2], f"same_source:{shared}"))
        if not viable:
            continue
        top = max(hit[0] for hit in viable.values())
        chosen = sorted(other for other, hit in viable.items() if hit[0] == top)
        if any(rivals(x, y) for i, x in enumerate(chosen) for y in chosen[i + 1:]):
            own_sources = summary(root)[3]
            free = [other for other in chosen if not own_sources & summary(other)[3]]
            if len(free) == 1 or (free and not any(rivals(x, y) for i, x in enumerate(free) for y in free[i + 1:])):
                chosen = free
            else:
                tied.add(root)
                for other in chosen:
                    review[viable[other][1]].add((viable[other][2], "tie"))
                continue
        best[root] = set(chosen)

    pairs = sorted(((hit[0], root, other) for root, targets in scores.items() for other, hit in targets.items()
                    if root < other), key=lambda p: (-p[0], p[1], p[2]))
    for _, root, other in pairs:
        if root in tied or other in tied:
            continue
        best_of_one, best_of_other = other in best.get(root, ()), root in best.get(other, ())
        a, b = uf.find(root), uf.find(other)
        if a == b or not (best_of_one or best_of_other) or conflict(a, b):
            continue
        if summary(a)[3] & summary(b)[3] and not (best_of_one and best_of_other):
            continue
        # the persons may have grown since: weigh the edge again against all their records
        if weigh(a, b, *scores[root][other][3:]) < needed(a, b):
            continue
        join(a, b)
    # a pair is a question only while its records are two people, and a second record of one source
    # only while neither found its person elsewhere
    kept = {record: sorted((other, reason) for other, reason in found if reason == "tie"
                           or (uf.find(record) != uf.find(other) and (not reason.startswith("same_source") or all(
                               len(members[uf.find(x)]) == size_of[root_of[x]] for x in (record, other)))))
            for record, found in review.items()}
    return uf, {record: found for record, found in kept.items() if found}


# The arms of staging.int_person_records: a changed record of these is re-matched.
PERSON_ENTITIES = (("hubspot", "contacts"), ("salesforce", "leads"), ("salesforce", "contacts"), ("file", "leads"),
                   ("file", "contacts"))


def refresh_records(conn: Connection, params: dict[str, Any], full: bool = False) -> int:
    """Recompute ``core.identity_record`` for the person records promoted by this merge (temp
    table ``merge_changes``, see transform.refresh_staging) and the records naming a changed
    account; all of them when ``full`` or when nothing was promoted in this transaction. Exposes
    the table as the temporary view ``identity_records``. Returns the records refreshed."""
    # the keys the refreshed records carried before: how many records carry a name or a phone weighs
    # the matches of records that did not change (resolve)
    conn.exec_driver_sql("create temporary table identity_keys_before (full_name text, phone_key text)"
                         " on commit drop")
    # a first load: the lookup indexes are built once after the insert, not row by row (no reader
    # waits for a table that was empty for it anyway)
    with models.loading(conn, "core.identity_record"):
        if full or not conn.exec_driver_sql("select to_regclass('pg_temp.merge_changes')").scalar():
            conn.exec_driver_sql("delete from core.identity_record")
            conn.exec_driver_sql(
                "create temporary table identity_refresh on commit drop as"
                " select source, entity, record_id from staging.int_person_records")
        else:
            conn.execute(text(
                "create temporary table identity_refresh on commit drop as"
                " select source, entity, record_id from merge_changes"
                " where (source, entity) in (select s, e from unnest(cast(:sources as text[]),"
                "  cast(:entities as text[])) as t (s, e))"
                " union select source, entity, record_id from core.identity_record"
                " where (source, account_source_id) in (select source, record_id from merge_changes"
                "  where entity = 'accounts')"),
                {"sources": [s for s, _ in PERSON_ENTITIES], "entities": [e for _, e in PERSON_ENTITIES]})
            conn.exec_driver_sql(
                "insert into identity_keys_before select full_name, phone_key from core.identity_record"
                " where (source, entity, record_id) in (select source, entity, record_id from identity_refresh)")
        # whole: no record outside the refresh is left (a full refresh, a first load), so the records
        # are read from whole tables rather than looked up one by one (records.sql) and inserted
        whole = not conn.exec_driver_sql("select exists (select from core.identity_record)").scalar()
        refreshed, written = _write_records(conn, {**params, "whole": whole}, whole)
    analyze_if_grown(conn, "core", "identity_record", written)
    conn.exec_driver_sql("create or replace temporary view identity_records as select * from core.identity_record")
    return refreshed


def _write_records(conn: Connection, params: dict[str, Any], whole: bool) -> tuple[int, int]:
    """The refreshed records (``sql/identity/records.sql``) into ``core.identity_record``: inserted
    when whole; otherwise only those that changed are written and those no longer live deleted, so
    an unchanged record keeps its row (suppression's notes hear only of a changed mailbox).
    Returns the records refreshed and the rows written."""
    select = sql_path("identity/records.sql").read_text().strip().rstrip(";")
    if whole:
        # the project's own SQL file, and the column names of its select
        columns = ", ".join(conn.execute(text(f"select * from ({select}\n) as r limit 0"), params).keys())  # noqa: S608
        rows = conn.execute(text(f"insert into core.identity_record ({columns})\n{select}"), params).rowcount
        return rows, rows
    conn.execute(text(f"create temporary table identity_record_new on commit drop as\n{select}"), params)
    names = list(conn.exec_driver_sql("select * from identity_record_new limit 0").keys())
    written = conn.exec_driver_sql(
        "delete from core.identity_record as r where (r.source, r.entity, r.record_id) in"
        " (select source, entity, record_id from identity_refresh)"
        " and not exists (select from identity_record_new as n where n.record_key = r.record_key)").rowcount
    written += conn.exec_driver_sql(
        f"insert into core.identity_record ({', '.join(names)}) select {', '.join(names)} from identity_record_new"  # noqa: S608
        + models.upsert_clause("core.identity_record", ("record_key",), names)).rowcount
    refreshed = conn.exec_driver_sql("select count(*) from identity_record_new").scalar_one()
    conn.exec_driver_sql("drop table identity_record_new")
    return refreshed, written


def _recount(conn: Connection, params: dict[str, Any]) -> None:
    """Match again the records that did not change but carry a name whose count changed (how many
    records carry a name weighs an exact-name match), or a phone number that became, or stopped
    being, a switchboard's (more than ``max_phone_records`` records), as a full refresh would
    weigh them. The counts before are the refreshed records' keys before (``identity_keys_before``)."""
    if conn.exec_driver_sql("select (select count(*) from identity_changed)"
                            " >= (select count(*) from identity_records)").scalar():
        return  # every record is matched again already (a first load, a full refresh)
    conn.execute(text(
        "insert into identity_changed"
        " with refreshed as ("
        "  select r.full_name, r.phone_key from identity_records as r"
        "  where (r.source, r.entity, r.record_id) in (select source, entity, record_id from identity_refresh)),"
        " name_delta as ("
        "  select full_name, sum(n) as delta from (select full_name, 1 as n from refreshed"
        "   union all select full_name, -1 from identity_keys_before) as d"
        "  where full_name is not null group by full_name having sum(n) <> 0),"
        " phone_delta as ("
        "  select phone_key, sum(n) as delta from (select phone_key, 1 as n from refreshed"
        "   union all select phone_key, -1 from identity_keys_before) as d"
        "  where phone_key is not null group by phone_key having sum(n) <> 0),"
        " switched as ("  # the count now and before lie on two sides of the switchboard line
        "  select d.phone_key from phone_delta as d"
        "  cross join lateral (select count(*) as now from identity_records as r where r.phone_key = d.phone_key) as c"
        "  where (c.now > cast(:max_phone_records as integer))"
        "   <> (c.now - d.delta > cast(:max_phone_records as integer)))"
        " select r.record_key from identity_records as r"
        " where r.full_name in (select full_name from name_delta) or r.phone_key in (select phone_key from switched)"
        " except select record_key from identity_changed"), params)


# How sql/identity/edges.sql meets the edges already there: the new weight and evidence replace them.
EDGE_UPSERT = ("\non conflict (left_record, right_record, match_rule) do update"
               " set match_score = excluded.match_score, evidence = excluded.evidence")


def resolve(conn: Connection, settings: dict[str, Any] | None = None, full: bool = False) -> IdentityStats:
    """Bring ``core.person_identity`` in line with the current records, in the caller's transaction."""
    params = sql_params(settings if settings is not None else identity_settings())
    stats = IdentityStats()
    conn.exec_driver_sql(
        "create temporary table identity_affected (record_key text, source text, entity text, record_id text,"
        " old_person_id bigint, new_person_id bigint) on commit drop")
    sync_nicknames(conn)
    refresh_records(conn, params, full)
    stats.records = conn.exec_driver_sql("select count(*) from identity_records").scalar_one()

    # Changed: new records, records whose keys changed, and records that are gone; every record on a
    # full refresh, which matches and clusters all of them again.
    conn.execute(text(
        "create temporary table identity_changed on commit drop as"
        " select r.record_key from identity_records r"
        " left join core.person_identity i"
        "  on (i.source, i.entity, i.source_record_id) = (r.source, r.entity, r.record_id) and i.is_active"
        " where cast(:full as boolean) or i.fingerprint is distinct from r.fingerprint"), {"full": full})
    conn.exec_driver_sql(
        "create temporary table identity_gone on commit drop as"
        " select i.source || ':' || i.entity || ':' || i.source_record_id as record_key from core.person_identity i"
        " where i.is_active and not exists (select 1 from identity_records r"
        "  where (r.source, r.entity, r.record_id) = (i.source, i.entity, i.source_record_id))")
    # the records of decisions made since the last merge are matched again, so the decision counts now,
    # and so are those a decision joined that is no longer there (its row deleted by hand)
    conn.exec_driver_sql(
        "insert into identity_changed select k from meta.identity_decision d"
        " cross join lateral unnest(array[d.left_record, d.right_record]) as k"
        " where d.applied_at is null and k in (select record_key from identity_records)"
        " union select k from core.identity_edge e"
        " cross join lateral unnest(array[e.left_record, e.right_record]) as k"
        " where e.match_rule = 'review_same' and not exists (select 1 from meta.identity_decision d"
        "  where (d.left_record, d.right_record) = (e.left_record, e.right_record) and d.decision = 'same')"
        " and k in (select record_key from identity_records)"
        " except select record_key from identity_changed")
    conn.exec_driver_sql("update meta.identity_decision set applied_at = now() where applied_at is null")
    _recount(conn, params)
    conn.exec_driver_sql("create index on identity_changed (record_key)")
    gone = int(conn.exec_driver_sql("select count(*) from identity_gone").scalar_one())
    stats.changed = int(conn.exec_driver_sql("select count(*) from identity_changed").scalar_one()) + gone
    if not stats.changed:
        return stats

    conn.exec_driver_sql("create index on identity_gone (record_key)")
    # empty before the delete could empty it (a first load): a plain insert, its index built after it
    with models.loading(conn, "core.identity_edge") as empty:
        conn.exec_driver_sql(
            "delete from core.identity_edge where left_record in (select record_key from identity_changed"
            " union all select record_key from identity_gone) or right_record in (select record_key"
            " from identity_changed union all select record_key from identity_gone)")
        edges = sql_path("identity/edges.sql").read_text()
        conn.execute(text(edges if empty else edges + EDGE_UPSERT), params)
    if gone:
        conn.exec_driver_sql(
            "update core.person_identity set is_active = false, last_seen_at = now()"
            " where source || ':' || entity || ':' || source_record_id in (select record_key from identity_gone)")

    stats.affected = _reach(conn)
    batches = _batches(conn, batch_records())
    merges: list[tuple[int, int, str, float, str]] = []
    conn.exec_driver_sql(
        "create temporary table identity_assignment (source text, entity text, source_record_id text,"
        " person_id bigint, match_rule text, match_score numeric, matched_record text) on commit drop")
    conn.exec_driver_sql(
        "create temporary table identity_new (match_key text, source text, entity text, source_record_id text,"
        " match_rule text, match_score numeric, matched_record text) on commit drop")
    for batch in range(batches):
        merges += _resolve_batch(conn, batch, params["min_score"])
    stats.review_pairs = int(conn.exec_driver_sql("select count(*) from core.identity_review").scalar_one())
    if stats.review_pairs:
        log.warning("identity: %d pair(s) of records wait for a person's decision (core.identity_review);"
                    " list them with `smarketing identity review`", stats.review_pairs)
    stats.new_persons = _new_persons(conn, [merged for merged, *_ in merges])
    stats.relinked_records = conn.exec_driver_sql(
        "select count(*) from identity_assignment a join identity_node n"
        " on (n.source, n.entity, n.record_id) = (a.source, a.entity, a.source_record_id)"
        " where n.person_before <> a.person_id").scalar_one()
    _write(conn, merges)
    # What the rest of the merge recomputes: every re-assigned record, with its old and new person.
    conn.exec_driver_sql(
        "insert into identity_affected (record_key, source, entity, record_id, old_person_id, new_person_id)"
        " select n.record_key, n.source, n.entity, n.record_id, n.person_before, a.person_id from identity_node n"
        " left join identity_assignment a on (a.source, a.entity, a.source_record_id) = (n.source, n.entity,"
        "  n.record_id)")
    conn.exec_driver_sql("create index on identity_affected (source, entity, record_id)")
    conn.exec_driver_sql("analyze identity_affected")
    stats.merged_persons = len(merges)
    stats.deleted_persons = conn.exec_driver_sql(
        "update core.person p set is_deleted = true, updated_at = now() where not p.is_deleted"
        " and p.merged_into_person_id is null and not exists (select 1 from core.person_identity i"
        " where i.person_id = p.person_id and i.is_active)").rowcount
    conn.exec_driver_sql(
        "update core.person p set is_deleted = false, updated_at = now() where p.is_deleted"
        " and exists (select 1 from core.person_identity i where i.person_id = p.person_id and i.is_active)")
    return stats


# Clustering holds the records of one batch of whole components in memory at a time (about 1 KB a
# record): a first load of any size clusters in bounded memory. SMARKETING_IDENTITY_BATCH_RECORDS.
BATCH_RECORDS = 50_000


def batch_records() -> int:
    value = os.environ.get("SMARKETING_IDENTITY_BATCH_RECORDS", "")
    if not value:
        return BATCH_RECORDS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"SMARKETING_IDENTITY_BATCH_RECORDS is {value!r}: a whole number of records, at least 1")
    return int(value)


# One step of the closure: the records an edge or a shared person links to those found last step.
REACH_STEP = """
insert into identity_reach (record_key, step)
select found.record_key, :step + 1 from (
    select e.right_record as record_key from core.identity_edge as e
    inner join identity_reach as n on e.left_record = n.record_key where n.step = :step
    union
    select e.left_record from core.identity_edge as e
    inner join identity_reach as n on e.right_record = n.record_key where n.step = :step
    union
    select j.source || ':' || j.entity || ':' || j.source_record_id
    from identity_reach as n
    inner join core.person_identity as i on (i.source, i.entity, i.source_record_id) = (n.source, n.entity, n.record_id)
    inner join core.person_identity as j on i.person_id = j.person_id and j.is_active
    where n.step = :step
) as found
on conflict (record_key) do nothing
"""


def _reach(conn: Connection) -> int:
    """Everything reachable from the changed and gone records through edges or shared persons, in
    the temporary table ``identity_node``: each record numbered in key order (``n``), with its
    person before this merge (the active one, or the last one of a record that is gone). Returns
    the live records among them."""
    conn.exec_driver_sql(
        "create temporary table identity_reach (record_key text primary key, step int not null,"
        " source text generated always as (split_part(record_key, ':', 1)) stored,"
        " entity text generated always as (split_part(record_key, ':', 2)) stored,"
        " record_id text generated always as (substr(record_key, length(split_part(record_key, ':', 1))"
        "  + length(split_part(record_key, ':', 2)) + 3)) stored) on commit drop")
    conn.exec_driver_sql("insert into identity_reach (record_key, step) select record_key, 0 from identity_changed"
                         " union select record_key, 0 from identity_gone")
    conn.exec_driver_sql("create index on identity_reach (source, entity, record_id)")
    step = 0
    while True:
        conn.exec_driver_sql("analyze identity_reach")
        if not conn.execute(text(REACH_STEP), {"step": step}).rowcount:
            break
        step += 1
    conn.exec_driver_sql(
        "create temporary table identity_node on commit drop as"
        " select r.record_key, r.source, r.entity, r.record_id,"
        "  row_number() over (order by r.record_key collate \"C\") - 1 as n, i.person_id as person_before"
        " from identity_reach r left join core.person_identity i"
        "  on (i.source, i.entity, i.source_record_id) = (r.source, r.entity, r.record_id)"
        "  and (i.is_active or r.record_key in (select record_key from identity_gone))")
    conn.exec_driver_sql("create index on identity_node (record_key)")
    conn.exec_driver_sql("analyze identity_node")
    return int(conn.exec_driver_sql("select count(*) from identity_node n"
                                    " where n.record_key in (select record_key from identity_records)").scalar_one())


def _batches(conn: Connection, size: int) -> int:
    """Split the records of ``identity_node`` into batches of whole components (records joined by
    an edge or a person, which clustering and a person's home decide together), in the order of each
    component's first record key, of about ``size`` records each; a larger component is a batch of
    its own. Writes ``identity_batch`` (record key, batch); returns the number of batches."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = int(conn.exec_driver_sql("select count(*) from identity_node").scalar_one())
    lefts, rights = [], []
    links = conn.exec_driver_sql(
        "select a.n, b.n from core.identity_edge e join identity_node a on a.record_key = e.left_record"
        " join identity_node b on b.record_key = e.right_record"
        " union all select n, min(n) over (partition by person_before) from identity_node"
        "  where person_before is not null and record_key not in (select record_key from identity_gone)",
        execution_options={"stream_results": True})
    for part in links.partitions(200_000):
        pairs = np.array(part, dtype=np.int64).reshape(-1, 2)
        lefts.append(pairs[:, 0])
        rights.append(pairs[:, 1])
    left = np.concatenate(lefts) if lefts else np.empty(0, np.int64)
    right = np.concatenate(rights) if rights else np.empty(0, np.int64)
    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    # each component by its first record (the lowest n), in that order
    first = np.full(labels.max() + 1 if count else 0, count, np.int64)
    np.minimum.at(first, labels, np.arange(count))
    order = np.argsort(first)
    sizes = np.bincount(labels)[order]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    batch_of_component = np.empty_like(order)
    batch_of_component[order] = starts // size
    batch = batch_of_component[labels]
    conn.exec_driver_sql("create temporary table identity_batch_of (n bigint, batch int) on commit drop")
    copy_rows(conn, "identity_batch_of", ("n", "batch"), zip(range(count), batch.tolist(), strict=True))
    conn.exec_driver_sql("create temporary table identity_batch on commit drop as select n.record_key, b.batch,"
                         " n.person_before from identity_node n join identity_batch_of b using (n)")
    conn.exec_driver_sql("create index on identity_batch (batch)")
    conn.exec_driver_sql("analyze identity_batch")
    return int(batch.max()) + 1 if count else 0


def _resolve_batch(conn: Connection, batch: int, min_score: float) -> list[tuple[int, int, str, float, str]]:
    """Cluster one batch's live records and note each one's person (``identity_assignment``, or
    ``identity_new`` for a new person, numbered once every batch is done); return the persons that
    turned out to be one (merged into the older)."""
    live = set(conn.execute(text(
        "select n.record_key from identity_batch n join identity_records r on r.record_key = n.record_key"
        " where n.batch = :batch"), {"batch": batch}).scalars().all())
    if not live:
        return []
    records = list(live)
    edges = conn.execute(text(
        "select left_record, right_record, match_rule, match_score, evidence from core.identity_edge"
        " where left_record = any(:records) and right_record = any(:records)"), {"records": records}).all()
    current: dict[str, int] = dict(conn.execute(text(
        "select n.record_key, n.person_before from identity_batch n where n.batch = :batch"
        " and n.person_before is not null and n.record_key not in (select record_key from identity_gone)"),
        {"batch": batch}).all())
    current = {key: person for key, person in current.items() if key in live}

    facts = {key: Facts((domain, email) if domain and not generic else None, phone, linkedin, company)
             for key, domain, email, generic, phone, linkedin, company in conn.execute(text(
                 "select r.record_key, r.work_domain, r.email_key, r.is_generic_mailbox, case when"
                 "  (select count(*) from identity_records x where x.phone_key = r.phone_key) <= :max_phone"
                 "  then r.phone_key end, r.linkedin_key, r.company_key"
                 " from identity_records r where r.record_key = any(:records)"),
                 {"records": records, "max_phone": MAX_PHONE_RECORDS}).all()}
    apart = conn.execute(text(
        "select left_record, right_record from meta.identity_decision where decision = 'different'"
        " and (left_record = any(:records) or right_record = any(:records))"), {"records": records}).all()
    uf, ties = _cluster(live, edges, facts, apart, min_score)
    _write_review(conn, live, ties)
    best: dict[str, tuple[int, float, str, str]] = {}  # record -> (rule rank, -score, rule, other)
    for left, right, rule, score, _ in edges:
        if rule in REVIEW_ONLY or uf.find(left) != uf.find(right):
            continue  # an edge the constraints rejected is no evidence
        for a, b in ((left, right), (right, left)):
            candidate = (RULE_RANK.get(rule, 9), -float(score), rule, b)
            if a not in best or candidate < best[a]:
                best[a] = candidate
    components: dict[str, list[str]] = defaultdict(list)
    for key in live:
        components[uf.find(key)].append(key)

    # Each existing person stays with the component holding most of its records; of two holding as
    # many, the one with the record it was made for (its match key, as a fresh load makes it), else
    # the one with the oldest key.
    made_for = {person: re.sub(r" \(\d+\)$", "", key.removeprefix("person:")) for person, key in conn.execute(text(
        "select person_id, match_key from core.person where person_id = any(:persons)"),
        {"persons": sorted(set(current.values()))}).all()}
    home: dict[int, str] = {}
    weight: dict[tuple[int, str], int] = defaultdict(int)
    for key, person in current.items():
        weight[(person, uf.find(key))] += 1

    def holds_own_record(person: int, root: str) -> bool:
        own = made_for.get(person)
        return own is not None and own in live and uf.find(own) == root

    for (person, root), _ in sorted(weight.items(), key=lambda kv: (-kv[1], not holds_own_record(*kv[0]), kv[0][1])):
        home.setdefault(person, root)

    assignments: list[tuple[str, str, str, int, str, float, str | None]] = []
    new_records: list[tuple[str, str, str, str, str, float, str | None]] = []
    merges: list[tuple[int, int, str, float, str]] = []
    for root, keys in sorted(components.items()):
        candidates = sorted({p for p in (current.get(k) for k in keys) if p is not None and home.get(p) == root})
        if not candidates:  # a new person, numbered with every batch's new persons in key order
            first = min(keys)
            new_records += [(f"person:{first}", *_split(key), *_evidence(best, key)) for key in keys]
            continue
        survivor = candidates[0]
        for other in candidates[1:]:
            link = next((k for k in sorted(keys) if current.get(k) == other), keys[0])
            rank, neg, rule, with_record = best.get(link, (9, -1.0, "component", ""))
            merges.append((other, survivor, rule, -neg, f"{link} matched {with_record}"))
        for key in keys:
            assignments.append((*_split(key), survivor, *_evidence(best, key)))
    copy_rows(conn, "identity_assignment", ("source", "entity", "source_record_id", "person_id", "match_rule",
                                             "match_score", "matched_record"), assignments)
    copy_rows(conn, "identity_new", ("match_key", "source", "entity", "source_record_id", "match_rule",
                                      "match_score", "matched_record"), new_records)
    return merges


def _new_persons(conn: Connection, merged: Sequence[int]) -> int:
    """Make the new persons of every batch, their ids in the order of their first record's key
    (the same on every run), and add their records to ``identity_assignment``. Returns how many.

    A new person's key names its first record (``person:<record>``). A person merged away or left
    without records before, of the same key, is that person again; one still in use is not: this
    merge gives it records or merges it away (``merged``), or it holds records this merge did not
    look at. Its first record left it (most of its records stayed together), and the new person
    takes the key with the first free number (``person:<record> (2)``)."""
    in_use = conn.execute(text(
        "select distinct n.match_key from identity_new as n join core.person as p on p.match_key = n.match_key"
        " where p.person_id in (select person_id from identity_assignment) or p.person_id = any(:merged)"
        " or exists (select 1 from core.person_identity as i where i.person_id = p.person_id and i.is_active"
        "  and not exists (select 1 from identity_node as x"
        "   where (x.source, x.entity, x.record_id) = (i.source, i.entity, i.source_record_id)))"),
        {"merged": list(merged)}).scalars().all()
    for key in in_use:
        number = 2
        while conn.execute(text("select exists (select from core.person where match_key = :key)"),
                           {"key": f"{key} ({number})"}).scalar():
            number += 1
        conn.execute(text("update identity_new set match_key = :new where match_key = :key"),
                     {"new": f"{key} ({number})", "key": key})
    # one statement for all new persons: a round trip each made the first run of 6,000 persons 5 s slower
    conn.exec_driver_sql("create temporary table identity_new_id (match_key text, person_id bigint) on commit drop")
    conn.exec_driver_sql(
        "with made as (insert into core.person (match_key) select match_key from identity_new group by match_key"
        "  order by match_key collate \"C\""
        " on conflict (match_key) do update set merged_into_person_id = null, is_deleted = false"
        " returning match_key, person_id) insert into identity_new_id select * from made")
    made = conn.exec_driver_sql("select count(*) from identity_new_id").scalar_one()
    if made:  # a person merged away once and standing alone again is no longer merged
        conn.exec_driver_sql("delete from core.person_merge where merged_person_id in"
                             " (select person_id from identity_new_id)")
        conn.exec_driver_sql(
            "insert into identity_assignment (source, entity, source_record_id, person_id, match_rule, match_score,"
            " matched_record) select n.source, n.entity, n.source_record_id, i.person_id, n.match_rule,"
            " n.match_score, n.matched_record from identity_new n join identity_new_id i using (match_key)")
    return int(made)


def sync_nicknames(conn: Connection) -> None:
    """Write the nickname lists into ``meta.nickname`` when they differ from the last merge's."""
    digest = nicknames.digest()
    if conn.exec_driver_sql("select digest from meta.settings_applied where name = 'nicknames'").scalar() == digest:
        return
    conn.exec_driver_sql("delete from meta.nickname")
    copy_rows(conn, "meta.nickname", ("name", "canonical"), nicknames.pairs())
    conn.execute(text("insert into meta.settings_applied (name, digest) values ('nicknames', :digest)"
                      " on conflict (name) do update set digest = excluded.digest, applied_at = now()"),
                 {"digest": digest})


REVIEW_REASONS = {
    "mailbox_names": "one mailbox under two first names that cannot be one: a shared mailbox?",
    "tie": "a tie: the best matches are two different people",
    "same_source": "the two persons each hold a {source} record already: name and company do not make a"
                   " second one of one human",
}


def _write_review(conn: Connection, live: set[str], review: dict[str, list[tuple[str, str]]]) -> None:
    """Bring ``core.identity_review`` in line for the re-resolved records: one row per pair of
    records clustering left to a person, with the weight and evidence of their strongest edge;
    never a pair already decided; a pair still waiting keeps its ``first_seen_at``."""
    pairs = sorted({(min(record, other), max(record, other),
                     REVIEW_REASONS[reason.split(":", 1)[0]].format(source=reason.partition(":")[2]))
                    for record, found in review.items() for other, reason in found})
    found = {"lefts": [a for a, _, _ in pairs], "rights": [b for _, b, _ in pairs], "reasons": [r for _, _, r in pairs],
             "records": list(live)}
    conn.execute(text(
        "delete from core.identity_review q where (q.left_record = any(:records) or q.right_record = any(:records))"
        " and (q.left_record, q.right_record) not in (select * from unnest(cast(:lefts as text[]),"
        "  cast(:rights as text[])))"), found)
    if pairs:
        conn.execute(text(
            "insert into core.identity_review (left_record, right_record, match_score, evidence, reason)"
            " select distinct on (e.left_record, e.right_record) e.left_record, e.right_record, e.match_score,"
            "  e.evidence, p.reason"
            " from unnest(cast(:lefts as text[]), cast(:rights as text[]), cast(:reasons as text[]))"
            "  as p (left_record, right_record, reason)"
            " join core.identity_edge e on (e.left_record, e.right_record) = (p.left_record, p.right_record)"
            " where not exists (select 1 from meta.identity_decision d"
            "  where (d.left_record, d.right_record) = (p.left_record, p.right_record))"
            " order by e.left_record, e.right_record, e.match_rule = 'fuzzy' desc, p.reason"  # a tie first
            " on conflict (left_record, right_record) do update set match_score = excluded.match_score,"
            "  evidence = excluded.evidence, reason = excluded.reason"), found)


def _evidence(best: dict[str, tuple[int, float, str, str]], key: str) -> tuple[str, float, str | None]:
    if key not in best:
        return "unique", 1.0, None
    _, neg, rule, other = best[key]
    return rule, -neg, other


def _write(conn: Connection, merges: list[tuple]) -> None:
    insert = (
        "insert into core.person_identity (source, entity, source_record_id, person_id, match_rule, match_score,"
        " matched_record, fingerprint, is_active)"
        " select a.source, a.entity, a.source_record_id, a.person_id, a.match_rule, a.match_score, a.matched_record,"
        " r.fingerprint, true from identity_assignment a join identity_records r"
        "  on (r.source, r.entity, r.record_id) = (a.source, a.entity, a.source_record_id)")
    upsert = (
        " on conflict (source, entity, source_record_id) do update set person_id = excluded.person_id,"
        " match_rule = excluded.match_rule, match_score = excluded.match_score,"
        " matched_record = excluded.matched_record, fingerprint = excluded.fingerprint, is_active = true,"
        " last_seen_at = now()"
        " where (core.person_identity.person_id, core.person_identity.match_rule, core.person_identity.match_score,"
        "  core.person_identity.matched_record, core.person_identity.fingerprint, core.person_identity.is_active)"
        " is distinct from (excluded.person_id, excluded.match_rule, excluded.match_score, excluded.matched_record,"
        "  excluded.fingerprint, true)")
    with models.loading(conn, "core.person_identity") as empty:  # a first load: a plain insert
        conn.exec_driver_sql(insert if empty else insert + upsert)
    for merged, survivor, rule, score, evidence in merges:
        conn.execute(text(
            "insert into core.person_merge (merged_person_id, surviving_person_id, match_rule, match_score, evidence)"
            " values (:merged, :survivor, :rule, :score, :evidence) on conflict (merged_person_id) do update set"
            " surviving_person_id = excluded.surviving_person_id"),
            {"merged": merged, "survivor": survivor, "rule": rule, "score": score, "evidence": evidence})
        conn.execute(text("update core.person set merged_into_person_id = :survivor, updated_at = now()"
                          " where person_id = :merged or merged_into_person_id = :merged"),
                     {"survivor": survivor, "merged": merged})


# -- the review queue: `smarketing identity review` -------------------------------------------------

DECISIONS = ("same", "different")


@dataclass
class ReviewSide:
    record: str
    name: str
    company: str
    email: str  # masked: the first letter of the mailbox and its domain
    title: str
    city: str


@dataclass
class ReviewPair:
    left: ReviewSide
    right: ReviewSide
    score: float
    evidence: dict[str, Any]
    reason: str


def _masked(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def review_queue(conn: Connection, limit: int | None = None) -> list[ReviewPair]:
    """The pairs waiting for a decision, the strongest evidence first, with what a person needs to
    decide (names, companies, masked addresses, titles, cities as the sources wrote them)."""
    if not conn.exec_driver_sql("select exists (select 1 from core.identity_review)").scalar():
        return []  # also before the first merge, when staging has no views yet
    rows = conn.execute(text(
        "select q.left_record, q.right_record, q.match_score, q.evidence, q.reason,"
        " l.first_name, l.last_name, l.company_name, l.email, l.job_title, l.city,"
        " r.first_name, r.last_name, r.company_name, r.email, r.job_title, r.city"
        " from core.identity_review q"
        " left join staging.int_person_records l on l.record_key = q.left_record"
        " left join staging.int_person_records r on r.record_key = q.right_record"
        " order by q.match_score desc, q.left_record, q.right_record limit :limit"),
        {"limit": limit}).all()

    def side(record: str, first: Any, last: Any, company: Any, email: Any, title: Any, city: Any) -> ReviewSide:
        return ReviewSide(record, " ".join(p for p in (first, last) if p), company or "", _masked(email),
                          title or "", city or "")

    return [ReviewPair(side(row[0], *row[5:11]), side(row[1], *row[11:17]), float(row[2]), row[3] or {}, row[4])
            for row in rows]


def decide(conn: Connection, first: str, second: str, decision: str, decided_by: str, note: str | None = None) -> None:
    """Record a person's decision about two records; the next merge applies it and every later
    one keeps it (``meta.identity_decision``), full refreshes included."""
    if decision not in DECISIONS:
        raise ValueError(f"a decision is one of {', '.join(DECISIONS)}, not {decision!r}")
    if first == second:
        raise ValueError("a decision needs two different records")
    known = set(conn.execute(text("select record_key from core.identity_record where record_key = any(:keys)"),
                             {"keys": [first, second]}).scalars().all())
    unknown = [key for key in (first, second) if key not in known]
    if unknown:
        raise ValueError(f"no person record {', '.join(unknown)} (write records as source:entity:id, as"
                         " `smarketing identity review` lists them)")
    left, right = sorted((first, second))
    _check_consistent(conn, left, right, decision)
    conn.execute(text(
        "insert into meta.identity_decision (left_record, right_record, decision, decided_by, note)"
        " values (:left, :right, :decision, :by, :note) on conflict (left_record, right_record) do update"
        " set decision = excluded.decision, decided_by = excluded.decided_by, note = excluded.note,"
        " decided_at = now(), applied_at = null"),
        {"left": left, "right": right, "decision": decision, "by": decided_by, "note": note})
    conn.execute(text("delete from core.identity_review where (left_record, right_record) = (:left, :right)"),
                 {"left": left, "right": right})


def _check_consistent(conn: Connection, left: str, right: str, decision: str) -> None:
    """Refuse a decision that contradicts the others: 'same' decisions join transitively, so no two
    records they join may have been decided different."""
    rows = conn.execute(text("select left_record, right_record, decision from meta.identity_decision"
                             " where (left_record, right_record) <> (:left, :right)"),
                        {"left": left, "right": right}).all()
    same = _UnionFind()
    for a, b, kind in [*rows, (left, right, decision)]:
        if kind == "same":
            same.union(a, b)
    for a, b, kind in [*rows, (left, right, decision)]:
        if kind == "different" and same.find(a) == same.find(b):
            raise ValueError(f"{a} and {b} were decided different, and the 'same' decisions (this one included)"
                             f" would make them one person; undo one of them first (--undo)")


def undo(conn: Connection, first: str, second: str) -> bool:
    """Delete the decision about two records; the next merge matches both again as if none had been
    made. False when there was none."""
    left, right = sorted((first, second))
    gone = conn.execute(text("delete from meta.identity_decision where (left_record, right_record) = (:left, :right)"),
                        {"left": left, "right": right}).rowcount
    if gone:
        conn.execute(text("update core.person_identity set fingerprint = null"
                          " where source || ':' || entity || ':' || source_record_id in (:left, :right)"),
                     {"left": left, "right": right})
    return bool(gone)
