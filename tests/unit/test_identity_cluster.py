"""Identity resolution's clustering (identity._cluster): which records become one person, and
which pairs wait for a person, from match edges alone, without a warehouse. Records are
source:entity:id (hs:c:1 a HubSpot contact, sf:l:1 a Salesforce lead); fuzzy weights are in bits
as edges.sql writes them (min_score 9: exact name 8 + same company 3 = 11)."""

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
    edges = [("hs:c:1", "sf:l:lead:1", "email_exact", 1), ("sf:l:lead:1", "sf:l:contact:1", "crm_conversion", 1)]
    assert people(["hs:c:1", "sf:l:lead:1", "sf:l:contact:1", "file:9"], edges) == {
        frozenset({"hs:c:1", "sf:l:lead:1", "sf:l:contact:1"}),
        frozenset({"file:9"}),
    }


def test_a_fuzzy_match_never_joins_two_work_mailboxes_of_one_domain():
    """Anna Schmidt and Anne Schmidt at acme.de write from different acme.de mailboxes: two people."""
    facts = {"hs:c:anna": box("acme.de", "anna.schmidt@acme.de"), "sf:l:anne": box("acme.de", "anne.schmidt@acme.de")}
    assert people(["hs:c:anna", "sf:l:anne"], [("hs:c:anna", "sf:l:anne", "fuzzy", 11)], facts) == alone(
        "hs:c:anna", "sf:l:anne"
    )


def test_a_fuzzy_match_joins_a_record_without_a_conflicting_mailbox():
    facts = {"hs:c:anna": box("acme.de", "anna.schmidt@acme.de")}
    assert people(["hs:c:anna", "file:anna"], [("hs:c:anna", "file:anna", "fuzzy", 11)], facts) == {
        frozenset({"hs:c:anna", "file:anna"})
    }


def test_a_weight_below_the_minimum_joins_nothing():
    assert people(["hs:c:a", "sf:l:a"], [("hs:c:a", "sf:l:a", "fuzzy", MIN - 1)]) == alone("hs:c:a", "sf:l:a")


def test_a_record_equally_close_to_two_different_people_is_merged_with_neither_and_waits_for_review():
    """file:j. müller (no mailbox) matches Jonas and Julia Müller at one domain equally well."""
    facts = {
        "hs:c:jonas": box("acme.de", "jonas.mueller@acme.de"),
        "hs:c:julia": box("acme.de", "julia.mueller@acme.de"),
    }
    groups, review = resolve(
        ["file:j", "hs:c:jonas", "hs:c:julia"],
        [("file:j", "hs:c:jonas", "fuzzy", 10), ("file:j", "hs:c:julia", "fuzzy", 10)],
        facts,
    )
    assert groups == alone("file:j", "hs:c:jonas", "hs:c:julia")
    assert review == {"file:j": [("hs:c:jonas", "tie"), ("hs:c:julia", "tie")]}


def test_the_stronger_fuzzy_match_wins_and_the_weaker_then_conflicts():
    facts = {
        "hs:c:jonas": box("acme.de", "jonas.mueller@acme.de"),
        "hs:c:julia": box("acme.de", "julia.mueller@acme.de"),
    }
    edges = [("file:j", "hs:c:julia", "fuzzy", 10), ("file:j", "hs:c:jonas", "fuzzy", 12)]
    assert people(["file:j", "hs:c:jonas", "hs:c:julia"], edges, facts) == {
        frozenset({"file:j", "hs:c:jonas"}),
        frozenset({"hs:c:julia"}),
    }


def test_a_tie_goes_to_the_one_person_without_a_record_of_its_source():
    """hs:c:p (a personal address) ties between two namesakes at one company; one of them already has
    its HubSpot contact: one record per source per human sends hs:p to the other."""
    facts = {
        "sf:l:a": box("acme.de", "anna.berg@acme.de"),
        "hs:c:a": box("acme.de", "anna.berg@acme.de"),
        "sf:l:b": box("acme.de", "anna.berg2@acme.de"),
    }
    edges = [
        ("sf:l:a", "hs:c:a", "email_exact", 1),
        ("hs:c:p", "sf:l:a", "fuzzy", 11),
        ("hs:c:p", "sf:l:b", "fuzzy", 11),
    ]
    groups, review = resolve(["hs:c:p", "hs:c:a", "sf:l:a", "sf:l:b"], edges, facts)
    assert groups == {frozenset({"hs:c:a", "sf:l:a"}), frozenset({"hs:c:p", "sf:l:b"})}
    assert review == {}


def test_a_second_record_of_one_source_needs_more_than_name_and_company():
    """Two HubSpot contacts, same name and company, nothing else: maybe namesakes, so a person decides."""
    groups, review = resolve(["hs:c:1", "hs:c:2"], [("hs:c:1", "hs:c:2", "fuzzy", 11)])
    assert groups == alone("hs:c:1", "hs:c:2")
    assert review == {"hs:c:1": [("hs:c:2", "same_source:hs:c")]}
    assert people(["hs:c:1", "hs:c:2"], [("hs:c:1", "hs:c:2", "fuzzy", 12)]) == {frozenset({"hs:c:1", "hs:c:2"})}


def test_a_phone_elsewhere_in_a_person_counts_against_a_match():
    """hs:c:p matches sf:lead by name and company (11); the lead's contact has another phone than hs:p:
    weighed against the whole person, 11 - 3 = 8 stays below 9."""
    facts = {"hs:c:p": Facts(phone="301234567"), "sf:l:contact": Facts(phone="409999999")}
    edges = [("sf:l:lead", "sf:l:contact", "crm_conversion", 1), ("hs:c:p", "sf:l:lead", "fuzzy", 11)]
    assert people(["hs:c:p", "sf:l:lead", "sf:l:contact"], edges, facts) == {
        frozenset({"sf:l:lead", "sf:l:contact"}),
        frozenset({"hs:c:p"}),
    }
    same = {"hs:c:p": Facts(phone="301234567"), "sf:l:contact": Facts(phone="301234567")}
    assert people(["hs:c:p", "sf:l:lead", "sf:l:contact"], edges, same) == {
        frozenset({"hs:c:p", "sf:l:lead", "sf:l:contact"})
    }


def test_a_record_joins_only_its_best_person_not_every_person_above_the_minimum():
    """info@ (a shared mailbox) under Jürgen Schmidt matches his own personal record by phone (16)
    and a namesake colleague by name and company (10): it goes to the first, and the namesake
    does not follow through it."""
    edges = [("sf:l:info", "hs:c:gmx", "fuzzy", 16), ("sf:l:info", "hs:c:colleague", "fuzzy", 10)]
    groups = people(["sf:l:info", "hs:c:gmx", "hs:c:colleague"], edges)
    assert groups == {frozenset({"sf:l:info", "hs:c:gmx"}), frozenset({"hs:c:colleague"})}


def test_a_decision_that_two_records_differ_wins_over_every_edge():
    """sf:l:1 is tied to both sides; the stronger rule (a conversion over a shared mailbox) keeps it."""
    edges = [
        ("hs:c:1", "sf:l:1", "email_exact", 1),
        ("sf:l:1", "sf:l:2", "crm_conversion", 1),
        ("hs:c:1", "sf:l:2", "fuzzy", 20),
    ]
    assert people(["hs:c:1", "sf:l:1", "sf:l:2"], edges, apart=[("hs:c:1", "sf:l:2")]) == {
        frozenset({"sf:l:1", "sf:l:2"}),
        frozenset({"hs:c:1"}),
    }
    assert people(["hs:c:1", "sf:l:1"], edges[:1], apart=[("hs:c:1", "sf:l:1")]) == alone("hs:c:1", "sf:l:1")


def test_the_outcome_does_not_depend_on_the_order_of_the_edges():
    facts = {"a": box("x.com", "a@x.com"), "b": box("x.com", "b@x.com")}
    edges = [
        ("c", "a", "fuzzy", 12),
        ("c", "b", "fuzzy", 10),
        ("d", "b", "email_exact", 1),
        ("e", "c", "source_merge", 1),
    ]
    keys = ["a", "b", "c", "d", "e"]
    assert (
        people(keys, edges, facts)
        == people(keys, list(reversed(edges)), facts)
        == {frozenset({"a", "c", "e"}), frozenset({"b", "d"})}
    )


def test_a_record_without_a_company_never_bridges_two_employers():
    """Carl Weber at Alpha and Carl Weber at Beta are two people (their own pair: 8 + 2 - 3 = 7). A
    third Carl Weber, a Gmail address without a company, matches each of them alike (10): it could
    be either, so it waits for a person instead of making the three one. Found by a README-only
    trial. When the two match each other (a phone: 7 + 8 = 15), a job change, the third joins them."""
    a, b, gmail = "hs:c:alpha", "sf:l:beta", "file:l:gmail"
    facts = {a: Facts(company="alpha"), b: Facts(company="beta"), gmail: Facts()}
    bridge = [(a, gmail, "fuzzy", 10), (b, gmail, "fuzzy", 10)]
    groups, review = resolve([a, b, gmail], bridge, facts)
    assert groups == alone(a, b, gmail)
    assert sorted(review[gmail]) == [(a, "tie"), (b, "tie")]
    assert people([a, b, gmail], [*bridge, (a, b, "fuzzy", 15)], facts) == {frozenset({a, b, gmail})}
    # one employer, written alike by both: no rivals, one person as before
    same = {a: Facts(company="alpha"), b: Facts(company="alpha"), gmail: Facts()}
    assert people([a, b, gmail], bridge, same) == {frozenset({a, b, gmail})}
