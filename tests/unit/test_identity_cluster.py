"""Identity resolution's clustering (identity._cluster): which records become one person, from
match edges alone, without a warehouse."""

from smarketing.identity import _cluster


def people(keys, edges, mailboxes=None) -> set[frozenset[str]]:
    uf = _cluster(set(keys), edges, mailboxes or {})
    groups: dict[str, set[str]] = {}
    for key in keys:
        groups.setdefault(uf.find(key), set()).add(key)
    return {frozenset(g) for g in groups.values()}


def test_exact_edges_join_transitively_and_lone_records_stay_alone():
    edges = [("hs:1", "sf:lead:1", "email_exact", 1), ("sf:lead:1", "sf:contact:1", "crm_conversion", 1)]
    assert people(["hs:1", "sf:lead:1", "sf:contact:1", "file:9"], edges) == {
        frozenset({"hs:1", "sf:lead:1", "sf:contact:1"}), frozenset({"file:9"})}


def test_a_fuzzy_match_never_joins_two_work_mailboxes_of_one_domain():
    """Anna Schmidt and Anne Schmidt at acme.de write from different acme.de mailboxes: two people."""
    mailboxes = {"hs:anna": ("acme.de", "anna.schmidt@acme.de"), "sf:anne": ("acme.de", "anne.schmidt@acme.de")}
    edges = [("hs:anna", "sf:anne", "fuzzy_name_company", 0.93)]
    assert people(["hs:anna", "sf:anne"], edges, mailboxes) == {frozenset({"hs:anna"}), frozenset({"sf:anne"})}


def test_a_fuzzy_match_joins_a_record_without_a_conflicting_mailbox():
    mailboxes = {"hs:anna": ("acme.de", "anna.schmidt@acme.de")}
    edges = [("hs:anna", "file:anna", "fuzzy_name_company", 0.91)]
    assert people(["hs:anna", "file:anna"], edges, mailboxes) == {frozenset({"hs:anna", "file:anna"})}


def test_a_record_equally_close_to_two_different_people_is_merged_with_neither():
    """file:j. müller (no mailbox) matches Jonas and Julia Müller at one domain equally well."""
    mailboxes = {"hs:jonas": ("acme.de", "jonas.mueller@acme.de"), "hs:julia": ("acme.de", "julia.mueller@acme.de")}
    edges = [("file:j", "hs:jonas", "fuzzy_name_company", 0.9), ("file:j", "hs:julia", "fuzzy_name_company", 0.9)]
    assert people(["file:j", "hs:jonas", "hs:julia"], edges, mailboxes) == {
        frozenset({"file:j"}), frozenset({"hs:jonas"}), frozenset({"hs:julia"})}


def test_the_stronger_fuzzy_match_wins_and_the_weaker_then_conflicts():
    mailboxes = {"hs:jonas": ("acme.de", "jonas.mueller@acme.de"), "hs:julia": ("acme.de", "julia.mueller@acme.de")}
    edges = [("file:j", "hs:julia", "fuzzy_name_company", 0.8), ("file:j", "hs:jonas", "fuzzy_name_company", 0.95)]
    assert people(["file:j", "hs:jonas", "hs:julia"], edges, mailboxes) == {
        frozenset({"file:j", "hs:jonas"}), frozenset({"hs:julia"})}


def test_the_outcome_does_not_depend_on_the_order_of_the_edges():
    mailboxes = {"a": ("x.com", "a@x.com"), "b": ("x.com", "b@x.com")}
    edges = [("c", "a", "fuzzy_name_company", 0.9), ("c", "b", "fuzzy_name_company", 0.85),
             ("d", "b", "email_exact", 1), ("e", "c", "source_merge", 1)]
    keys = ["a", "b", "c", "d", "e"]
    assert people(keys, edges, mailboxes) == people(keys, list(reversed(edges)), mailboxes) == {
        frozenset({"a", "c", "e"}), frozenset({"b", "d"})}
