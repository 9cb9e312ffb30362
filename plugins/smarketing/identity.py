"""Identity resolution: the source records of one human become one ``core.person`` with a stable id.

1. Every live person record (HubSpot contact, Salesforce lead or contact, file-drop lead) has
   normalised keys and a fingerprint of them in ``core.identity_record``, recomputed for the
   records a merge promotes (``sql/identity/records.sql``).
2. Records that are new or whose fingerprint changed get match edges against all records
   (``sql/identity/edges.sql``): the same normalised email (a shared mailbox such as info@
   also needs the same name), a converted lead's contact, a HubSpot merge, and a fuzzy rule that
   compares full names only within blocks of the same company or work domain.
3. The records reachable from the changed ones form connected components; each becomes one
   person. A person keeps its id while it keeps most of its records; when two persons turn out to
   be one, the older id survives, the other points to it (``merged_into_person_id``) and
   ``core.person_merge`` keeps the history. Every link records its rule, score and the record it
   matched.

Matching and blocking run in the warehouse; only the components of the affected records are
assembled here, so an incremental run touches what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from smarketing.warehouse import analyze_if_grown, copy_rows, sql_path

RULE_RANK = {"crm_conversion": 0, "source_merge": 1, "email_exact": 2, "email_generic_same_name": 3,
             "fuzzy_name_company": 4}


@dataclass
class IdentityStats:
    records: int = 0
    changed: int = 0
    affected: int = 0
    new_persons: int = 0
    merged_persons: int = 0
    relinked_records: int = 0
    deleted_persons: int = 0


def identity_settings(path: Path | None = None) -> dict[str, Any]:
    """``config/identity.yaml``, validated (``smarketing.settings.IdentitySettings``)."""
    from smarketing import settings

    return settings.load("identity", path=path)


# Bumped when the rules behind the settings change (2: names compared in any alphabet, V033), so
# the next merge matches every record again under them.
RULES_VERSION = 2


def settings_digest(settings: dict[str, Any]) -> str:
    """A digest of the identity settings and rules: a merge under other settings than the last
    one recomputes core whole (transform.merge_core), and every record is matched again."""
    return hashlib.sha256(json.dumps({**settings, "rules_version": RULES_VERSION}, sort_keys=True,
                                     default=str).encode()).hexdigest()[:16]


def sql_params(settings: dict[str, Any]) -> dict[str, Any]:
    fuzzy = settings["fuzzy"]
    return {
        "settings_digest": settings_digest(settings),
        "generic_mailboxes": list(settings["generic_mailboxes"]),
        "free_mail_domains": list(settings["free_mail_domains"]),
        "fuzzy_enabled": fuzzy["enabled"],
        "min_name_similarity": fuzzy["min_name_similarity"],
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


def _cluster(keys: set[str], edges: Sequence[Any], mailboxes: dict[str, tuple[str, str]]) -> _UnionFind:
    """Connected components, with one constraint: two different work mailboxes of one domain are
    two people, so a fuzzy edge that would join them is dropped, and so is every fuzzy edge of a
    record whose best matches lie in two such conflicting groups (ambiguous, so not merged)."""
    uf = _UnionFind()
    for key in keys:
        uf.find(key)
    fuzzy = []
    for left, right, rule, score in edges:
        if rule == "fuzzy_name_company":
            fuzzy.append((float(score), left, right))
        else:
            uf.union(left, right)
    boxes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # root -> domain -> mailboxes
    for key, (domain, email) in mailboxes.items():
        boxes[uf.find(key)][domain].add(email)

    def conflict(a: str, b: str) -> bool:
        left, right = boxes.get(a, {}), boxes.get(b, {})
        return any(left[d] != right[d] for d in left.keys() & right.keys())

    targets: dict[str, dict[str, float]] = defaultdict(dict)  # record -> component -> best score
    for score, left, right in fuzzy:
        for a, b in ((left, right), (right, left)):
            root = uf.find(b)
            targets[a][root] = max(score, targets[a].get(root, 0.0))
    ambiguous = set()
    for record, scores in targets.items():
        top = max(scores.values())
        best_roots = [root for root, sc in scores.items() if sc == top and root != uf.find(record)]
        if any(conflict(x, y) for i, x in enumerate(best_roots) for y in best_roots[i + 1:]):
            ambiguous.add(record)
    for _, left, right in sorted(fuzzy, key=lambda e: (-e[0], e[1], e[2])):
        if left in ambiguous or right in ambiguous:
            continue
        a, b = uf.find(left), uf.find(right)
        if a == b or conflict(a, b):
            continue
        uf.union(a, b)
        root, other = uf.find(a), (b if uf.find(a) == a else a)
        for domain, emails in boxes.pop(other, {}).items():
            boxes[root][domain] |= emails
    return uf


# The arms of staging.int_person_records: a changed record of these is re-matched.
PERSON_ENTITIES = (("hubspot", "contacts"), ("salesforce", "leads"), ("salesforce", "contacts"), ("file", "leads"),
                   ("file", "contacts"))


def refresh_records(conn: Connection, params: dict[str, Any], full: bool = False) -> int:
    """Recompute ``core.identity_record`` for the person records promoted by this merge (temp
    table ``merge_changes``, see transform.refresh_staging) and the records naming a changed
    account; all of them when ``full`` or when nothing was promoted in this transaction. Exposes
    the table as the temporary view ``identity_records``. Returns the records refreshed."""
    if full or not conn.exec_driver_sql("select to_regclass('pg_temp.merge_changes')").scalar():
        conn.exec_driver_sql("delete from core.identity_record")
        conn.exec_driver_sql(
            "create temporary table identity_refresh on commit drop as"
            " select source, entity, record_id from staging.int_person_records")
    else:
        conn.execute(text(
            "create temporary table identity_refresh on commit drop as"
            " select source, entity, record_id from merge_changes"
            " where (source, entity) in (select s, e from unnest(cast(:sources as text[]), cast(:entities as text[]))"
            "  as t (s, e))"
            " union select source, entity, record_id from core.identity_record"
            " where (source, account_source_id) in (select source, record_id from merge_changes"
            "  where entity = 'accounts')"),
            {"sources": [s for s, _ in PERSON_ENTITIES], "entities": [e for _, e in PERSON_ENTITIES]})
        conn.exec_driver_sql("delete from core.identity_record where (source, entity, record_id) in"
                             " (select source, entity, record_id from identity_refresh)")
    refreshed = conn.execute(text(sql_path("identity/records.sql").read_text()), params).rowcount
    analyze_if_grown(conn, "core", "identity_record", refreshed)
    conn.exec_driver_sql("create or replace temporary view identity_records as select * from core.identity_record")
    return refreshed


def resolve(conn: Connection, settings: dict[str, Any] | None = None, full: bool = False) -> IdentityStats:
    """Bring ``core.person_identity`` in line with the current records, in the caller's transaction."""
    params = sql_params(settings if settings is not None else identity_settings())
    stats = IdentityStats()
    conn.exec_driver_sql(
        "create temporary table identity_affected (record_key text, source text, entity text, record_id text,"
        " old_person_id bigint, new_person_id bigint) on commit drop")
    refresh_records(conn, params, full)
    stats.records = conn.exec_driver_sql("select count(*) from identity_records").scalar_one()

    # Changed: new records, records whose keys changed, and records that are gone.
    conn.exec_driver_sql(
        "create temporary table identity_changed on commit drop as"
        " select r.record_key from identity_records r"
        " left join core.person_identity i"
        "  on (i.source, i.entity, i.source_record_id) = (r.source, r.entity, r.record_id) and i.is_active"
        " where i.fingerprint is distinct from r.fingerprint"
    )
    gone = conn.exec_driver_sql(
        "select i.source || ':' || i.entity || ':' || i.source_record_id from core.person_identity i"
        " where i.is_active and not exists (select 1 from identity_records r"
        "  where (r.source, r.entity, r.record_id) = (i.source, i.entity, i.source_record_id))"
    ).scalars().all()
    conn.exec_driver_sql("create index on identity_changed (record_key)")
    changed = set(conn.exec_driver_sql("select record_key from identity_changed").scalars().all())
    stats.changed = len(changed) + len(gone)
    if not changed and not gone:
        return stats

    stale = list(changed | set(gone))
    conn.execute(text("delete from core.identity_edge"
                      " where left_record = any(:records) or right_record = any(:records)"), {"records": stale})
    conn.execute(text(sql_path("identity/edges.sql").read_text()), params)
    if gone:
        conn.execute(text(
            "update core.person_identity set is_active = false, last_seen_at = now()"
            " where source || ':' || entity || ':' || source_record_id = any(:records)"), {"records": list(gone)})

    # Everything reachable from the changed records through edges or shared persons.
    affected = set(stale)
    frontier = set(stale)
    while frontier:
        keys = list(frontier)
        found = set(conn.execute(text(
            "select right_record from core.identity_edge where left_record = any(:records)"
            " union select left_record from core.identity_edge where right_record = any(:records)"
            " union select j.source || ':' || j.entity || ':' || j.source_record_id"
            "  from core.person_identity i join core.person_identity j on i.person_id = j.person_id and j.is_active"
            "  where i.source || ':' || i.entity || ':' || i.source_record_id = any(:records)"),
            {"records": keys}).scalars().all())
        frontier = found - affected
        affected |= found
    live = set(conn.execute(text("select record_key from identity_records where record_key = any(:records)"),
                            {"records": list(affected)}).scalars().all())
    stats.affected = len(live)

    edges = conn.execute(text(
        "select left_record, right_record, match_rule, match_score from core.identity_edge"
        " where left_record = any(:records) and right_record = any(:records)"), {"records": list(live)}).all()
    current: dict[str, int] = dict(conn.execute(text(
        "select i.source || ':' || i.entity || ':' || i.source_record_id, i.person_id"
        " from core.person_identity i where i.is_active and i.source || ':' || i.entity || ':' || i.source_record_id"
        " = any(:records)"), {"records": list(live)}).all())

    mailboxes = {key: (domain, email) for key, domain, email in conn.execute(text(
        "select record_key, work_domain, email_key from identity_records"
        " where record_key = any(:records) and work_domain is not null and not is_generic_mailbox"),
        {"records": list(live)}).all()}
    uf = _cluster(live, edges, mailboxes)
    best: dict[str, tuple[int, float, str, str]] = {}  # record -> (rule rank, -score, rule, other)
    for left, right, rule, score in edges:
        if uf.find(left) != uf.find(right):
            continue  # an edge the constraints rejected is no evidence
        for a, b in ((left, right), (right, left)):
            candidate = (RULE_RANK.get(rule, 9), -float(score), rule, b)
            if a not in best or candidate < best[a]:
                best[a] = candidate
    components: dict[str, list[str]] = defaultdict(list)
    for key in live:
        components[uf.find(key)].append(key)

    # Each existing person stays with the component holding most of its records (ties: the oldest key).
    home: dict[int, str] = {}
    weight: dict[tuple[int, str], int] = defaultdict(int)
    for key, person in current.items():
        weight[(person, uf.find(key))] += 1
    for (person, root), _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0][1])):
        home.setdefault(person, root)

    assignments: list[tuple[str, str, str, int, str, float, str | None]] = []
    merges: list[tuple[int, int, str, float, str]] = []
    new_components = []
    for root, keys in sorted(components.items()):  # new persons get ids in key order: the same on every run
        candidates = sorted({p for p in (current.get(k) for k in keys) if p is not None and home.get(p) == root})
        if not candidates:
            new_components.append((root, sorted(keys)))
            continue
        survivor = candidates[0]
        for other in candidates[1:]:
            link = next((k for k in sorted(keys) if current.get(k) == other), keys[0])
            rank, neg, rule, with_record = best.get(link, (9, -1.0, "component", ""))
            merges.append((other, survivor, rule, -neg, f"{link} matched {with_record}"))
        for key in keys:
            assignments.append((*_split(key), survivor, *_evidence(best, key)))

    # one statement for all new persons: a round trip each made the first run of 6,000 persons 5 s slower
    new_ids: dict[str, int] = dict(conn.execute(text(
        "insert into core.person (match_key) select unnest(cast(:match_keys as text[]))"
        " on conflict (match_key) do update set merged_into_person_id = null, is_deleted = false"
        " returning match_key, person_id"),
        {"match_keys": [f"person:{keys[0]}" for _, keys in new_components]}).all()) if new_components else {}
    for _, keys in new_components:
        stats.new_persons += 1
        for key in keys:
            assignments.append((*_split(key), new_ids[f"person:{keys[0]}"], *_evidence(best, key)))

    stats.relinked_records = sum(1 for a in assignments if current.get(f"{a[0]}:{a[1]}:{a[2]}") not in (None, a[3]))
    _write(conn, assignments, merges)
    # What the rest of the merge recomputes: every re-assigned record, with its old and new person.
    before = dict(conn.execute(text(
        "select i.source || ':' || i.entity || ':' || i.source_record_id, i.person_id from core.person_identity i"
        " where i.source || ':' || i.entity || ':' || i.source_record_id = any(:records)"),
        {"records": list(gone)}).all())
    before.update(current)
    after = {f"{a[0]}:{a[1]}:{a[2]}": a[3] for a in assignments}
    copy_rows(conn, "identity_affected", ("record_key", "source", "entity", "record_id", "old_person_id",
                                          "new_person_id"),
              ((key, *_split(key), before.get(key), after.get(key)) for key in affected))
    stats.merged_persons = len(merges)
    stats.deleted_persons = conn.exec_driver_sql(
        "update core.person p set is_deleted = true, updated_at = now() where not p.is_deleted"
        " and p.merged_into_person_id is null and not exists (select 1 from core.person_identity i"
        " where i.person_id = p.person_id and i.is_active)").rowcount
    conn.exec_driver_sql(
        "update core.person p set is_deleted = false, updated_at = now() where p.is_deleted"
        " and exists (select 1 from core.person_identity i where i.person_id = p.person_id and i.is_active)")
    return stats


def _evidence(best: dict[str, tuple[int, float, str, str]], key: str) -> tuple[str, float, str | None]:
    if key not in best:
        return "unique", 1.0, None
    _, neg, rule, other = best[key]
    return rule, -neg, other


def _write(conn: Connection, assignments: list[tuple], merges: list[tuple]) -> None:
    conn.exec_driver_sql(
        "create temporary table identity_assignment (source text, entity text, source_record_id text,"
        " person_id bigint, match_rule text, match_score numeric, matched_record text) on commit drop")
    copy_rows(conn, "identity_assignment", ("source", "entity", "source_record_id", "person_id", "match_rule",
                                             "match_score", "matched_record"), assignments)
    conn.exec_driver_sql(
        "insert into core.person_identity (source, entity, source_record_id, person_id, match_rule, match_score,"
        " matched_record, fingerprint, is_active)"
        " select a.source, a.entity, a.source_record_id, a.person_id, a.match_rule, a.match_score, a.matched_record,"
        " r.fingerprint, true from identity_assignment a join identity_records r"
        "  on (r.source, r.entity, r.record_id) = (a.source, a.entity, a.source_record_id)"
        " on conflict (source, entity, source_record_id) do update set person_id = excluded.person_id,"
        " match_rule = excluded.match_rule, match_score = excluded.match_score,"
        " matched_record = excluded.matched_record, fingerprint = excluded.fingerprint, is_active = true,"
        " last_seen_at = now()"
        " where (core.person_identity.person_id, core.person_identity.match_rule, core.person_identity.match_score,"
        "  core.person_identity.matched_record, core.person_identity.fingerprint, core.person_identity.is_active)"
        " is distinct from (excluded.person_id, excluded.match_rule, excluded.match_score, excluded.matched_record,"
        "  excluded.fingerprint, true)")
    for merged, survivor, rule, score, evidence in merges:
        conn.execute(text(
            "insert into core.person_merge (merged_person_id, surviving_person_id, match_rule, match_score, evidence)"
            " values (:merged, :survivor, :rule, :score, :evidence) on conflict (merged_person_id) do update set"
            " surviving_person_id = excluded.surviving_person_id"),
            {"merged": merged, "survivor": survivor, "rule": rule, "score": score, "evidence": evidence})
        conn.execute(text("update core.person set merged_into_person_id = :survivor, updated_at = now()"
                          " where person_id = :merged or merged_into_person_id = :merged"),
                     {"survivor": survivor, "merged": merged})
