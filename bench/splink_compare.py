"""Identity resolution against Splink on the same generated records: pairwise precision, recall,
F1 and seconds for each.

For one profile and scale (as ``smarketing identity-score``), it generates the dataset into a fresh
embedded database, runs our resolver (``identity_score.score``: landing, staging, timed
``identity.resolve``), then reads the normalised features our resolver matched on
(``core.identity_record``) and links the same records with Splink (Fellegi-Sunter, DuckDB):

* blocking like ours: company or work domain with the last name's sound and a first-name form
  (nicknames exploded), with first and last name swapped, or with an initial (typos); the same
  phone, LinkedIn profile or mailbox; and anywhere, the last name's sound with a first-name form
  (which holds every pair of the same full name);
* comparisons: first name (exact with term frequencies, nickname through ``first_name_forms``,
  swapped, Jaro-Winkler, initial), last name (exact with term frequencies, swapped,
  Jaro-Winkler), mailbox (a shared one such as info@ is no evidence; two mailboxes at one work
  domain are a level of their own), company or work domain, phone, title, city, LinkedIn;
* training: the prior from deterministic rules, u by random sampling, m by expectation
  maximisation on the blocks of the same name, the same phone and the same mailbox; then predict,
  and cluster (connected components) at each threshold;
* the deterministic links ours honours (a converted lead's contact, a HubSpot merge, the
  Salesforce ids synced onto a HubSpot contact) join Splink's clusters outright.

Splink runs twice: ``splink`` learns every weight; ``splink +veto`` also takes edges.sql's rule
that two different mailboxes at one work domain are two people, by fixing that level's m near 0.

Both are scored with ``identity_score.pairwise`` against ``dataset.person_of`` (malformed records
left out). Our seconds are ``identity.resolve`` (records.sql, edges.sql, clustering); Splink's
are reading the features, training, predicting and clustering at that threshold (the features
themselves are computed by records.sql, whose time is in ours). Splink is not a dependency of
the project: ``make identity-splink PROFILE=hard SCALE=10`` installs it with the project's lock in
a virtualenv of its own (``.venv-splink``) and runs this module there. The embedded warehouse
starts by itself and keeps running (``smarketing warehouse stop``). A benchmark only: nothing imports this module.
"""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd
from sqlalchemy import Engine

from smarketing import embedded, identity, warehouse
from smarketing.config import PATHS
from smarketing.demo.people import PEOPLE_AT_SCALE_1, generate_hard
from smarketing.demo.world import Dataset, generate
from smarketing.identity_score import DEMO_PEOPLE, PROFILES, pairwise, score

DATABASE = "smarketing_splink_compare"
THRESHOLDS = (0.9, 0.95, 0.99)

# What Splink sees of each record: the keys records.sql computed for our resolver, plus the
# sounds of the names (fuzzystrmatch's dmetaphone, as edges.sql blocks on). A shared mailbox
# (info@) says nothing about who wrote from it, as in ours: its key is left out.
FEATURES_SQL = """
select
    record_key as unique_id,
    first_name_key, last_name_key, full_name, first_name_forms,
    dmetaphone(first_name_key) as first_name_sound,
    dmetaphone(last_name_key) as last_name_sound,
    coalesce(company_key, work_domain) as org, company_key, work_domain,
    case when not is_generic_mailbox then email_key end as email_key,
    phone_key, title_key, city_key, linkedin_key,
    linked_record, merged_records, synced_records
from core.identity_record
"""
LINK_COLUMNS = ("linked_record", "merged_records", "synced_records")
# m is learned by expectation maximisation on the pairs of these blocks, each that has a pair (the
# default profile has no phone numbers): the name block trains all but the names, the others the names.
EM_BLOCKS = (("first_name_key", "last_name_key"), ("phone_key",), ("email_key",))


def dataset_for(profile: str, scale: float, seed: int) -> Dataset:
    """The dataset ``identity_score.score`` generates for these arguments (the generators are
    deterministic), for its ground truth."""
    if profile == "default":
        return generate(seed=seed, people=max(1, int(DEMO_PEOPLE * scale)))
    return generate_hard(seed=seed, people=max(1, int(PEOPLE_AT_SCALE_1 * scale)))


def truth_of(dataset: Dataset) -> dict[str, str]:
    return {f"{s}:{e}:{r}": person for (s, e, r), person in dataset.person_of.items()
            if (s, e, r) not in dataset.malformed}


def splink_settings(mailbox_veto: bool):
    """The model. ``mailbox_veto`` fixes the weight of two different mailboxes at one work domain
    at about -30 bits instead of learning it: edges.sql's rule that they are two people."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    swapped = cll.CustomLevel("first_name_key_l = last_name_key_r and last_name_key_l = first_name_key_r",
                              "first and last name swapped")
    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name_key"),
            cll.ExactMatchLevel("first_name_key", term_frequency_adjustments=True),
            cll.ArrayIntersectLevel("first_name_forms", min_intersection=1).configure(
                label_for_charts="nickname (a first-name form in common)"),
            swapped,
            cll.JaroWinklerLevel("first_name_key", 0.92),
            cll.JaroWinklerLevel("first_name_key", 0.8),
            cll.CustomLevel("(length(first_name_key_l) = 1 or length(first_name_key_r) = 1)"
                            " and substr(first_name_key_l, 1, 1) = substr(first_name_key_r, 1, 1)", "initial"),
            cll.ElseLevel(),
        ])
    last_name = cl.CustomComparison(
        output_column_name="last_name",
        comparison_levels=[
            cll.NullLevel("last_name_key"),
            cll.ExactMatchLevel("last_name_key", term_frequency_adjustments=True),
            swapped,
            cll.JaroWinklerLevel("last_name_key", 0.92),
            cll.JaroWinklerLevel("last_name_key", 0.8),
            cll.ElseLevel(),
        ])
    two_mailboxes = cll.CustomLevel("work_domain_l = work_domain_r", "two mailboxes at one work domain")
    if mailbox_veto:
        two_mailboxes.configure(m_probability=1e-9, fix_m_probability=True)
    email = cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email_key"),
            cll.ExactMatchLevel("email_key"),
            two_mailboxes,
            cll.CustomLevel("work_domain_l is null or work_domain_r is null", "a personal (free mail) address"),
            cll.ElseLevel(),
        ])
    company = cl.CustomComparison(
        output_column_name="company",
        comparison_levels=[
            cll.NullLevel("org"),
            cll.CustomLevel("company_key_l = company_key_r or work_domain_l = work_domain_r",
                            "same company or work domain"),
            cll.ElseLevel(),
        ])
    # the swapped-names blocks of edges.sql, in both directions
    swapped_block = ("l.org = r.org and l.first_name_sound = r.last_name_sound"
                     " and l.last_name_key = r.first_name_key")
    swapped_block_reverse = ("l.org = r.org and l.last_name_sound = r.first_name_sound"
                             " and l.first_name_key = r.last_name_key")
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[first_name, last_name, email, company, cl.ExactMatch("phone_key"), cl.ExactMatch("title_key"),
                     cl.ExactMatch("city_key"), cl.ExactMatch("linkedin_key")],
        blocking_rules_to_generate_predictions=[
            block_on("org", "last_name_sound", "first_name_forms", arrays_to_explode=["first_name_forms"]),
            swapped_block,
            swapped_block_reverse,
            block_on("org", "last_name_sound", "substr(first_name_key, 1, 1)"),
            block_on("org", "first_name_key", "substr(last_name_key, 1, 1)"),
            block_on("phone_key"),
            block_on("linkedin_key"),
            block_on("email_key"),
            block_on("last_name_sound", "first_name_forms", arrays_to_explode=["first_name_forms"]),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def deterministic_links(records: pd.DataFrame) -> list[tuple[str, str]]:
    """The source links edges.sql takes as certain, between records both present."""
    known = set(records["unique_id"])
    links = []
    for key, linked, merged, synced in records[["unique_id", *LINK_COLUMNS]].itertuples(index=False):
        others = [linked] if isinstance(linked, str) else []
        for many in (merged, synced):  # text[] arrives as a list, null as None
            if isinstance(many, list):
                others.extend(many)
        links.extend((key, other) for other in others if other in known and other != key)
    return links


def union(clusters: dict[str, object], links: list[tuple[str, str]]) -> dict[str, str]:
    """Splink's clusters with the deterministic links joined in (connected components)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_cluster: dict[object, str] = {}
    for key, cluster in clusters.items():
        first = by_cluster.setdefault(cluster, key)
        parent[find(key)] = find(first)
    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {key: find(key) for key in clusters}


def read_features(eng: Engine) -> pd.DataFrame:
    with eng.connect() as conn:
        return pd.read_sql_query(FEATURES_SQL, conn)


def train_and_predict(records: pd.DataFrame, mailbox_veto: bool, u_pairs: float, seed: int, verbose: bool):
    """A trained linker on the records, and its predictions from the lowest threshold on."""
    from splink import DuckDBAPI, Linker, block_on

    db_api = DuckDBAPI()
    frame = db_api.register(records.drop(columns=list(LINK_COLUMNS)), dataset_display_name="identity_record")
    linker = Linker(frame, splink_settings(mailbox_veto), log_level=logging.INFO if verbose else logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email_key"), block_on("phone_key", "last_name_key")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for columns in EM_BLOCKS:
        if records.dropna(subset=list(columns)).duplicated(subset=list(columns), keep=False).any():
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*columns))
    return linker, linker.inference.predict(threshold_match_probability=min(THRESHOLDS))


def print_model(linker) -> None:
    for comparison in linker.misc.save_model_to_json()["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            print(f"  {comparison['output_column_name']:<12} {level.get('label_for_charts', ''):<48}"
                  + (f" m={m:.4g} u={u:.4g}" if m is not None and u is not None else f" m={m} u={u}"))


def run_splink(eng: Engine, truth: dict[str, str], mailbox_veto: bool, u_pairs: float, seed: int,
               verbose: bool) -> tuple[list[tuple], str]:
    """Splink on core.identity_record: one row (resolver, threshold, records, precision, recall,
    F1, seconds) per threshold, and a line on what it predicted."""
    import splink

    name = f"splink {splink.__version__}" + (" +veto" if mailbox_veto else "")
    started = time.perf_counter()
    records = read_features(eng)
    links = deterministic_links(records)
    linker, predictions = train_and_predict(records, mailbox_veto, u_pairs, seed, verbose)
    shared = time.perf_counter() - started
    note = (f"{name}: {len(records)} records, {len(links)} deterministic links, trained and scored"
            f" {len(predictions.as_pandas_dataframe())} pairs at p >= {min(THRESHOLDS):g} in {shared:.1f} s")
    if verbose:
        print(note)
        print_model(linker)
    rows = []
    for threshold in THRESHOLDS:
        started = time.perf_counter()
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold).as_pandas_dataframe()
        predicted = union(dict(zip(clustered["unique_id"], clustered["cluster_id"], strict=True)), links)
        seconds = shared + time.perf_counter() - started
        precision, recall, f1 = pairwise(truth, predicted)
        rows.append((name, f"p>={threshold:g}", len(truth.keys() & predicted.keys()), precision, recall, f1,
                     seconds))
    return rows, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default="hard")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--u-pairs", type=float, default=1e7,
                        help="pairs sampled to estimate u (Splink advises 1e7 or more; most of its time)")
    parser.add_argument("--verbose", action="store_true", help="Splink's log and the m and u it learned")
    args = parser.parse_args(argv)
    import splink  # noqa: F401  imported before any timing starts

    embedded.start(PATHS.warehouse_data)
    eng = warehouse.engine(embedded.fresh_database(PATHS.warehouse_data, DATABASE))
    try:
        ours = score(eng, scale=args.scale, seed=args.seed, profile=args.profile)
        truth = truth_of(dataset_for(args.profile, args.scale, args.seed))
        min_score = identity.identity_settings()["fuzzy"]["min_score"]
        rows = [("smarketing", f"w>={min_score}", ours.records, ours.precision, ours.recall, ours.f1, ours.seconds)]
        notes = []
        for mailbox_veto in (False, True):
            splink_rows, note = run_splink(eng, truth, mailbox_veto, args.u_pairs, args.seed, args.verbose)
            rows += splink_rows
            notes.append(note)
    finally:
        eng.dispose()
        embedded.drop_database(PATHS.warehouse_data, DATABASE)
    print(f"profile {args.profile}, scale {args.scale:g} (seed {args.seed})")
    print("\n".join(notes))
    print(f"{'resolver':<20} {'threshold':>9} {'records':>8} {'precision':>9} {'recall':>7} {'F1':>7} {'seconds':>8}")
    for name, threshold, records, precision, recall, f1, seconds in rows:
        print(f"{name:<20} {threshold:>9} {records:>8} {precision:>9.4f} {recall:>7.4f} {f1:>7.4f} {seconds:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
