"""Score identity resolution against the generator's ground truth: pairwise precision and recall.

Two records form a true pair when the generator made them for the same human, and a predicted
pair when resolution gave them the same person. Pairs are counted per cluster (n choose 2), never
enumerated, so large scales stay cheap.

Profiles: ``default`` is the demo world (``DEMO_PEOPLE`` people at scale 1); ``hard`` is
``demo/people.py`` (``PEOPLE_AT_SCALE_1`` people at scale 1), where the recall over the pairs
the evidence can distinguish leaves out the humans nothing but a namesake's name links.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, text

from smarketing import identity, warehouse
from smarketing.demo.people import PEOPLE_AT_SCALE_1, generate_hard
from smarketing.demo.world import DemoSource, generate
from smarketing.landing import land_source
from smarketing.transform import refresh_staging

DEMO_PEOPLE = 120
PROFILES = ("default", "hard")


@dataclass
class Score:
    records: int
    persons_true: int
    persons_predicted: int
    precision: float
    recall: float
    f1: float
    seconds: float
    distinguishable_recall: float
    review_pairs: int = 0

    def lines(self) -> list[str]:
        return [f"records: {self.records}", f"persons (truth): {self.persons_true}",
                f"persons (resolved): {self.persons_predicted}", f"precision: {self.precision:.4f}",
                f"recall: {self.recall:.4f}", f"f1: {self.f1:.4f}",
                f"recall over pairs the evidence can distinguish: {self.distinguishable_recall:.4f}",
                f"pairs left for review (core.identity_review): {self.review_pairs}",
                f"resolution seconds: {self.seconds:.1f}"]


def _pairs(sizes: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in sizes.values())


def pairwise(truth: Mapping[str, str], predicted: Mapping[str, object]) -> tuple[float, float, float]:
    """Precision, recall and F1 over the records both mappings know."""
    keys = truth.keys() & predicted.keys()
    true_pairs = _pairs(Counter(truth[k] for k in keys))
    predicted_pairs = _pairs(Counter(predicted[k] for k in keys))
    both = _pairs(Counter((truth[k], predicted[k]) for k in keys))
    precision = both / predicted_pairs if predicted_pairs else 1.0
    recall = both / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score(eng: Engine, scale: float = 1.0, seed: int = 7, profile: str = "default") -> Score:
    """Generate ``scale`` x the profile's population into an empty warehouse, resolve, and score."""
    if profile not in PROFILES:
        raise ValueError(f"no identity profile {profile!r}; choose one of {', '.join(PROFILES)}")
    dataset = (generate(seed=seed, people=max(1, int(DEMO_PEOPLE * scale))) if profile == "default"
               else generate_hard(seed=seed, people=max(1, int(PEOPLE_AT_SCALE_1 * scale))))
    warehouse.migrate(eng)
    for system in ("hubspot", "salesforce"):
        land_source(eng, DemoSource(system, dataset, page_size=5000), "identity-score")
    with eng.begin() as conn:
        conn.exec_driver_sql("update meta.batches set validated_at = now() where validated_at is null")
        refresh_staging(conn)
    started = time.perf_counter()
    with eng.begin() as conn:
        identity.resolve(conn)
        seconds = time.perf_counter() - started
        predicted: dict[str, int] = dict(conn.execute(text(
            "select source || ':' || entity || ':' || source_record_id, person_id from core.person_identity"
            " where is_active")).all())
        review = conn.exec_driver_sql("select count(*) from core.identity_review").scalar_one()
    # malformed records are quarantined by the suites before resolution ever sees them
    truth = {f"{s}:{e}:{r}": person for (s, e, r), person in dataset.person_of.items()
             if (s, e, r) not in dataset.malformed}
    precision, recall, f1 = pairwise(truth, predicted)
    distinguishable = {k: v for k, v in truth.items() if v not in dataset.indistinguishable}
    _, distinguishable_recall, _ = pairwise(distinguishable, predicted)
    known = truth.keys() & predicted.keys()
    return Score(len(known), len({truth[k] for k in known}), len({predicted[k] for k in known}),
                 precision, recall, f1, seconds, distinguishable_recall, review)
