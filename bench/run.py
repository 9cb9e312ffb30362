"""The benchmark: every stage at a chosen scale against the embedded PostgreSQL, with baselines
measured in the same run on the same rows.

    make bench SCALE=1        # 100,000 people (about 1.3 million source records)

Prints per stage rows, seconds, rows per second and peak memory (RSS of this process), and writes
``bench/results/<timestamp>.json`` (keys ``stages``, ``baselines``, ``ratios``) with a markdown
table beside it. Baselines: a server-side ``COPY`` of the landed rows into an unindexed table (the
physical limit for landing), pandas ``DataFrame.to_sql`` with its defaults (what most people
write), and the whole pipeline again after 1 % of the records changed (incremental versus full).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

AS_OF = date(2026, 6, 30)
PEOPLE_PER_SCALE = 100_000
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measure:
    rows: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        rate = self.rows / self.seconds if self.seconds else 0.0
        return {"rows": self.rows, "seconds": round(self.seconds, 3), "rows_per_s": round(rate, 1),
                "peak_rss_mb": round(self.peak_rss_mb, 1), **self.extra}


@contextmanager
def measured(result: Measure):
    """Time the block and sample this process's RSS every 50 ms for its peak."""
    process, stop, peak = psutil.Process(), threading.Event(), [0]

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        result.peak_rss_mb = max(peak[0], process.memory_info().rss) / 2**20


def fresh_database(name: str) -> str:
    import psycopg

    from smarketing import embedded
    from smarketing.config import PATHS

    url = embedded.start(PATHS.warehouse_data)
    admin = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return f"{admin}/{name}"


def run_pipeline(eng, dataset, run_id: str) -> dict[str, Measure]:
    """Every stage once, on what the dataset holds beyond what was landed before."""
    from smarketing.kpis import refresh_marts
    from smarketing.landing import land_source
    from smarketing.nurture.lists import build_list, refresh_suppression
    from smarketing.nurture.programs import load_programs
    from smarketing.quality import validate_pending
    from smarketing.sources.demo import ENTITIES, DemoSource
    from smarketing.transform import merge_core

    url = os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"].replace("postgresql://", "postgresql+psycopg://")
    stages = {name: Measure() for name in ("landing", "validate", "merge", "kpis", "nurture")}
    with measured(stages["landing"]) as m:
        for system in ENTITIES:
            m.rows += sum(s.new for s in land_source(eng, DemoSource(system, dataset, page_size=5000), run_id))
    entities = [(s, e) for s, es in ENTITIES.items() for e in es]
    with measured(stages["validate"]) as m:
        m.rows = sum(o.rows for o in validate_pending(eng, url, run_id, entities, max_failure_share=1.0))
    with measured(stages["merge"]) as m:
        m.extra = {"identity": merge_core(eng, AS_OF)["identity"]}
        with eng.connect() as conn:
            m.rows = conn.exec_driver_sql("select count(*) from core.person_identity").scalar()
    with measured(stages["kpis"]) as m:
        m.rows = sum(refresh_marts(eng, AS_OF).values())
    with measured(stages["nurture"]) as m:
        refresh_suppression(eng)
        m.rows = sum(build_list(eng, p, AS_OF, run_id, RESULTS / "exports").members
                     for p in load_programs().values())
    return stages


def copy_baseline(eng) -> Measure:
    """Server-side COPY of every landed raw row into one unindexed table."""
    import tempfile

    result = Measure()
    with eng.begin() as conn:
        tables = conn.exec_driver_sql("select table_name from information_schema.tables where table_schema = 'raw'"
                                      ).scalars().all()
        conn.exec_driver_sql("create table public.copy_baseline (record_id text, version_at timestamptz,"
                             " is_deleted boolean, payload jsonb, batch_id uuid, extracted_at timestamptz)")
    folder = Path(tempfile.mkdtemp(prefix="smarketing-bench-"))
    folder.chmod(0o777)  # the server runs as its own user and writes the file itself
    dump = folder / "raw.csv"
    with eng.begin() as conn:  # the file the server will read, written by the server itself
        conn.exec_driver_sql("copy (" + " union all ".join(f"select * from raw.{t}" for t in tables)  # noqa: S608
                             + f") to '{dump}' (format csv)")
    with measured(result), eng.begin() as conn:
        result.rows = conn.exec_driver_sql(f"copy public.copy_baseline from '{dump}' (format csv)").rowcount
    dump.unlink()
    folder.rmdir()
    return result


def to_sql_baseline(eng, limit: int = 200_000) -> Measure:
    """pandas DataFrame.to_sql with its defaults, on (at most ``limit`` of) the same rows."""
    import pandas as pd

    frame = pd.read_sql_query(f"select * from raw.hubspot__email_events limit {int(limit)}", eng)  # noqa: S608
    frame["payload"] = frame["payload"].map(json.dumps)
    result = Measure(rows=len(frame))
    with measured(result):
        frame.to_sql("to_sql_baseline", eng, schema="public", index=False)
    return result


def change_one_percent(dataset) -> int:
    """A new version of every hundredth record, a day after the newest one."""
    from smarketing.sources.base import RawRecord

    changed = 0
    for records in dataset.records.values():
        latest = {r.record_id: r for r in records}
        newest = max(r.version_at for r in records)
        for n, record in enumerate(sorted(latest.values(), key=lambda r: r.record_id)):
            if n % 100 == 0:
                records.append(RawRecord(record.record_id, newest + timedelta(days=1), record.payload,
                                         record.is_deleted))
                changed += 1
        records.sort(key=lambda r: (r.version_at, r.record_id))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help=f"x {PEOPLE_PER_SCALE:,} people")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from smarketing import warehouse
    from smarketing.sources.demo import generate

    people = max(1, int(PEOPLE_PER_SCALE * args.scale))
    url = fresh_database("smarketing_bench")
    os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"] = url
    os.environ["SMARKETING_EXPORT_DIR"] = str(RESULTS / "exports")
    eng = warehouse.engine(url.replace("postgresql://", "postgresql+psycopg://"))
    warehouse.migrate(eng)

    generation = Measure()
    with measured(generation):
        dataset = generate(seed=args.seed, people=people)
        generation.rows = sum(len(r) for r in dataset.records.values())
    full = run_pipeline(eng, dataset, "bench-full")
    baselines = {"copy": copy_baseline(eng).as_dict(), "pandas_to_sql": to_sql_baseline(eng).as_dict()}
    changed = change_one_percent(dataset)
    incremental = run_pipeline(eng, dataset, "bench-incremental")
    full_seconds = sum(m.seconds for m in full.values())
    incremental_seconds = sum(m.seconds for m in incremental.values())
    baselines["incremental"] = {"changed_records": changed, "seconds": round(incremental_seconds, 3),
                                "stages": {k: v.as_dict() for k, v in incremental.items()}}
    landing = full["landing"].as_dict()["rows_per_s"]
    report = {
        "scale": args.scale, "people": people, "generated_records": generation.rows,
        "generation": generation.as_dict(),
        "stages": {k: v.as_dict() for k, v in full.items()},
        "baselines": baselines,
        "ratios": {
            "landing_vs_copy": round(landing / baselines["copy"]["rows_per_s"], 4) if baselines["copy"]["rows_per_s"]
            else None,
            "landing_vs_to_sql": round(landing / baselines["pandas_to_sql"]["rows_per_s"], 2)
            if baselines["pandas_to_sql"]["rows_per_s"] else None,
            "incremental_vs_full": round(incremental_seconds / full_seconds, 4) if full_seconds else None,
            "pipeline_seconds": round(full_seconds, 1),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    table = ["| stage | rows | seconds | rows/s | peak RSS MB |", "|---|---|---|---|---|"]
    for name, m in {**report["stages"], "baseline: COPY": baselines["copy"],
                    "baseline: pandas to_sql": baselines["pandas_to_sql"]}.items():
        table.append(f"| {name} | {m['rows']:,} | {m['seconds']:.2f} | {m['rows_per_s']:,.0f} "
                     f"| {m['peak_rss_mb']:.0f} |")
    table += ["", *(f"- {k}: {v}" for k, v in report["ratios"].items())]
    (RESULTS / f"{stamp}.md").write_text("\n".join(table) + "\n")
    print(f"scale {args.scale} ({people:,} people, {generation.rows:,} records generated in "
          f"{generation.seconds:.1f} s)")
    print("\n".join(table))
    print(f"results: {RESULTS / (stamp + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
