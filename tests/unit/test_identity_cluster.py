"""Identity resolution's clustering (identity._cluster): which records become one person, and
which pairs wait for a person, from match edges alone, without a warehouse. Fuzzy weights are in
bits as edges.sql writes them (min_score 9: exact name 8 + same company 3 = 11)."""

from smarketing.identity import Facts, _cluster

MIN = 9


def box(domain, address):
    return Facts(mailbox=(domain, address))


def resolve(keys, edges, facts=None, apart=()):
    uf, review = _cluster(set(keys), edges, facts or {}, apart, MIN)
    groups: dict[str, set[str]] = {}
    for key in keys:
        groups.setdefault(uf.find(key), set()).add(key)
    return {frozenset(g) for g in groups.values()}, review


def people(keys, edges, facts=None, apart=()):
    return resolve(keys, edges, facts, apart)[0]


def alone(*keys):
    return {frozenset({k}) for k in keys}


def test_exact_edges_join_transitively_and_lone_records_stay_alone():
    edges = [("hs:1", "sf:lead:1", "email_exact", 1), ("sf:lead:1", "sf:contact:1", "crm_conversion", 1)]
    assert people(["hs:1", "sf:lead:1", "sf:contact:1", "file:9"], edges) == {
        frozenset({"hs:1", "sf:lead:1", "sf:contact:1"}), frozenset({"file:9"})}


def test_a_fuzzy_match_never_joins_two_work_mailboxes_of_one_domain():
    """Anna Schmidt and Anne Schmidt at acme.de write from different acme.de mailboxes: two people."""
    facts = {"hs:anna": box("acme.de", "anna.schmidt@acme.de"), "sf:anne": box("acme.de", "anne.schmidt@acme.de")}
    assert people(["hs:anna", "sf:anne"], [("hs:anna", "sf:anne", "fuzzy", 11)], facts) == alone("hs:anna", "sf:anne")


def test_a_fuzzy_match_joins_a_record_without_a_conflicting_mailbox():
    facts = {"hs:anna": box("acme.de", "anna.schmidt@acme.de")}
    assert people(["hs:anna", "file:anna"], [("hs:anna", "file:anna", "fuzzy", 11)], facts) == {
        frozenset({"hs:anna", "file:anna"})}


def test_a_weight_below_the_minimum_joins_nothing():
    assert people(["hs:a", "sf:a"], [("hs:a", "sf:a", "fuzzy", MIN - 1)]) == alone("hs:a", "sf:a")


def test_a_record_equally_close_to_two_different_people_is_merged_with_neither_and_waits_for_review():
    """file:j. müller (no mailbox) matches Jonas and Julia Müller at one domain equally well."""
    facts = {"hs:jonas": box("acme.de", "jonas.mueller@acme.de"), "hs:julia": box("acme.de", "julia.mueller@acme.de")}
    groups, review = resolve(["file:j", "hs:jonas", "hs:julia"],
                             [("file:j", "hs:jonas", "fuzzy", 10), ("file:j", "hs:julia", "fuzzy", 10)], facts)
    assert groups == alone("file:j", "hs:jonas", "hs:julia")
    assert review == {"file:j": [("hs:jonas", "tie"), ("hs:julia", "tie")]}


def test_the_stronger_fuzzy_match_wins_and_the_weaker_then_conflicts():
    facts = {"hs:jonas": box("acme.de", "jonas.mueller@acme.de"), "hs:julia": box("acme.de", "julia.mueller@acme.de")}
    edges = [("file:j", "hs:julia", "fuzzy", 10), ("file:j", "hs:jonas", "fuzzy", 12)]
    assert people(["file:j", "hs:jonas", "hs:julia"], edges, facts) == {
        frozenset({"file:j", "hs:jonas"}), frozenset({"hs:julia"})}


def test_a_tie_goes_to_the_one_person_without_a_record_of_its_source():
    """hs:p (a personal address) ties between two namesakes at one company; one of them already has
    its HubSpot contact: one record per source per human sends hs:p to the other."""
    facts = {"sf:a": box("acme.de", "anna.berg@acme.de"), "hs:a": box("acme.de", "anna.berg@acme.de"),
             "sf:b": box("acme.de", "anna.berg2@acme.de")}
    edges = [("sf:a", "hs:a", "email_exact", 1), ("hs:p", "sf:a", "fuzzy", 11), ("hs:p", "sf:b", "fuzzy", 11)]
    groups, review = resolve(["hs:p", "hs:a", "sf:a", "sf:b"], edges, facts)
    assert groups == {frozenset({"hs:a", "sf:a"}), frozenset({"hs:p", "sf:b"})}
    assert review == {}


def test_a_second_record_of_one_source_needs_more_than_name_and_company():
    """Two HubSpot contacts, same name and company, nothing else: maybe namesakes, so a person decides."""
    groups, review = resolve(["hs:1", "hs:2"], [("hs:1", "hs:2", "fuzzy", 11)])
    assert groups == alone("hs:1", "hs:2")
    assert review == {"hs:1": [("hs:2", "same_source")]}
    assert people(["hs:1", "hs:2"], [("hs:1", "hs:2", "fuzzy", 12)]) == {frozenset({"hs:1", "hs:2"})}


def test_a_phone_elsewhere_in_a_person_counts_against_a_match():
    """hs:p matches sf:lead by name and company (11); the lead's contact has another phone than hs:p:
    weighed against the whole person, 11 - 3 = 8 stays below 9."""
    facts = {"hs:p": Facts(phone="301234567"), "sf:contact": Facts(phone="409999999")}
    edges = [("sf:lead", "sf:contact", "crm_conversion", 1), ("hs:p", "sf:lead", "fuzzy", 11)]
    assert people(["hs:p", "sf:lead", "sf:contact"], edges, facts) == {
        frozenset({"sf:lead", "sf:contact"}), frozenset({"hs:p"})}
    same = {"hs:p": Facts(phone="301234567"), "sf:contact": Facts(phone="301234567")}
    assert people(["hs:p", "sf:lead", "sf:contact"], edges, same) == {frozenset({"hs:p", "sf:lead", "sf:contact"})}


def test_a_record_joins_only_its_best_person_not_every_person_above_the_minimum():
    """info@ (a shared mailbox) under Jürgen Schmidt matches his own personal record by phone (16)
    and a namesake colleague by name and company (10): it goes to the first, and the namesake
    does not follow through it."""
    edges = [("sf:info", "hs:gmx", "fuzzy", 16), ("sf:info", "hs:colleague", "fuzzy", 10)]
    groups = people(["sf:info", "hs:gmx", "hs:colleague"], edges)
    assert groups == {frozenset({"sf:info", "hs:gmx"}), frozenset({"hs:colleague"})}


def test_a_decision_that_two_records_differ_wins_over_every_edge():
    """sf:1 is tied to both sides; the stronger rule (a conversion over a shared mailbox) keeps it."""
    edges = [("hs:1", "sf:1", "email_exact", 1), ("sf:1", "sf:2", "crm_conversion", 1), ("hs:1", "sf:2", "fuzzy", 20)]
    assert people(["hs:1", "sf:1", "sf:2"], edges, apart=[("hs:1", "sf:2")]) == {
        frozenset({"sf:1", "sf:2"}), frozenset({"hs:1"})}
    assert people(["hs:1", "sf:1"], edges[:1], apart=[("hs:1", "sf:1")]) == alone("hs:1", "sf:1")


def test_the_outcome_does_not_depend_on_the_order_of_the_edges():
    facts = {"a": box("x.com", "a@x.com"), "b": box("x.com", "b@x.com")}
    edges = [("c", "a", "fuzzy", 12), ("c", "b", "fuzzy", 10), ("d", "b", "email_exact", 1),
             ("e", "c", "source_merge", 1)]
    keys = ["a", "b", "c", "d", "e"]
    assert people(keys, edges, facts) == people(keys, list(reversed(edges)), facts) == {
        frozenset({"a", "c", "e"}), frozenset({"b", "d"})}
