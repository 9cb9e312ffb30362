"""The benchmark: every stage at a chosen scale against the embedded PostgreSQL, with baselines
measured in the same run on the same rows.

    make bench SCALE=1        # 100,000 people (about 1.3 million source records)

Prints per stage rows, seconds, rows per second and peak memory (RSS of this process), and writes
``bench/results/<timestamp>.json`` (keys ``stages``, ``baselines``, ``ratios``, ``checksums``) with a
markdown table and the checksums of every output table (``smarketing warehouse checksums``) beside
it. Baselines: a server-side ``COPY`` of the landed rows into an unindexed table (the physical
limit for landing), pandas ``DataFrame.to_sql`` with its defaults (what most people
write), and the whole pipeline again after 1 % of the records changed (incremental versus full).
Beside them, a 200 MB CSV export (``--file-drop-mb``) loaded as a file drop in a process of its own,
for the loader's peak memory (bench/file_drop.py), and identity resolution alone on both identity
profiles at two sizes ten times apart (``identity``, ``ratios.identity_growth_<profile>``: the
time's growth over the records' growth, 1.0 for linear).

Each scale runs in a process of its own, so one scale's peak memory is not another's. A scale above
1 runs SCALE=1 first in the same invocation (``make bench SCALE=10``) and reports the growth
(``ratios.scale10_vs_scale1``: the whole pipeline's seconds at SCALE=10 over those at SCALE=1);
the full refresh, identity profiles and file drop are measured in the SCALE=1 run only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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


class SqlTimings:
    """Time spent per SQL statement (keyed by its first line), to see which statement limits a stage."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        self._started: list[float] = []

    def attach(self, eng) -> None:
        from sqlalchemy import event

        @event.listens_for(eng, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            self._started.append(time.perf_counter())

        @event.listens_for(eng, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            key = " ".join(statement.split())[:110]
            entry = self.totals.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - self._started.pop()

    def top(self, n: int = 12) -> list[tuple[str, int, float]]:
        ranked = sorted(self.totals.items(), key=lambda kv: -kv[1][1])[:n]
        self.totals = {}
        return [(key, calls, round(seconds, 3)) for key, (calls, seconds) in ranked]


@contextmanager
def measured(result: Measure):
    """Time the block and sample the RSS of this process and its children (validation's forked
    processes, whose pages shared with this one are counted again) every 50 ms for its peak."""
    process, stop, peak = psutil.Process(), threading.Event(), [0]

    def rss() -> int:
        total = process.memory_info().rss
        for child in process.children():
            try:
                total += 0 if child.name().startswith("postgres") else child.memory_info().rss
            except psutil.Error:  # ended meanwhile
                pass
        return total

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
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
        result.peak_rss_mb = max(peak[0], rss()) / 2**20


def positive_scale(value: str) -> float:
    """``--scale``: a finite number above 0 (argparse names the flag when it is not)."""
    try:
        scale = float(value)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is no positive number")
    return scale


def fresh_database(name: str) -> str:
    from smarketing import embedded
    from smarketing.config import PATHS, with_database

    embedded.start(PATHS.warehouse_data)
    return with_database(embedded.fresh_database(PATHS.warehouse_data, name), name, "postgresql")


STAGES = ("landing", "validate", "merge", "kpis", "nurture")
CHUNK_PEOPLE = 10_000  # generated, landed and forgotten at a time: memory stays flat as the scale grows
PAGE_SIZE = 5_000


def land_pages(eng, system: str, entity: str, records, run_id: str) -> int:
    from smarketing.landing import land_page

    ceiling = datetime.now(UTC)
    return sum(land_page(eng, system, entity, records[start:start + PAGE_SIZE], run_id, ceiling)
               for start in range(0, len(records), PAGE_SIZE))


def land_generated(eng, people: int, seed: int, run_id: str, landing: Measure, generation: Measure) -> None:
    """Generate the population part by part and land each part; generation time is kept apart."""
    from smarketing.demo.world import generate_chunks

    parts = generate_chunks(seed, people, chunk_people=CHUNK_PEOPLE)
    with measured(landing):
        while True:
            started = time.perf_counter()
            part = next(parts, None)
            generation.seconds += time.perf_counter() - started
            if part is None:
                break
            for (system, entity), records in part.records.items():
                generation.rows += len(records)
                landing.rows += land_pages(eng, system, entity, records, run_id)
    landing.seconds -= generation.seconds
    generation.peak_rss_mb = landing.peak_rss_mb  # one process does both, part by part


def run_stages(eng, run_id: str, stages: dict[str, Measure], timings: SqlTimings, full: bool = False) -> None:
    """Validate, merge, KPIs and nurture lists on what landed since the last run."""
    from smarketing.demo.world import ENTITIES
    from smarketing.kpis import refresh_marts
    from smarketing.nurture.lists import build_list, refresh_suppression
    from smarketing.nurture.programs import load_programs
    from smarketing.quality import validate_pending
    from smarketing.transform import merge_core

    url = os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"].replace("postgresql://", "postgresql+psycopg://")
    entities = [(s, e) for s, es in ENTITIES.items() for e in es]
    stages["landing"].extra["top_sql"] = timings.top()
    with measured(stages["validate"]) as m:
        m.rows = sum(o.rows for o in validate_pending(eng, url, run_id, entities, max_failure_share=1.0))
    m.extra["top_sql"] = timings.top()
    with measured(stages["merge"]) as m:
        changed = merge_core(eng, AS_OF, full=full)
        m.rows = changed["staging"]
        m.extra.update(scope=changed["scope"], identity=changed["identity"], top_sql=timings.top())
    with measured(stages["kpis"]) as m:
        m.rows = sum(refresh_marts(eng, AS_OF).values())
    m.extra["top_sql"] = timings.top()
    with measured(stages["nurture"]) as m:
        refresh_suppression(eng)
        m.rows = sum(build_list(eng, p, AS_OF, run_id, RESULTS / "exports").members
                     for p in load_programs().values())
    m.extra["top_sql"] = timings.top()


def copy_baseline(pipeline_engine) -> Measure:
    """Server-side COPY of every landed raw row into one unindexed table. A COPY from a server file
    needs an administrator (the pipeline's own login may not read server files): the baseline runs
    as the embedded server's superuser."""
    import tempfile

    from smarketing import embedded, warehouse
    from smarketing.config import PATHS

    admin = embedded.admin_url(PATHS.warehouse_data, pipeline_engine.url.database)
    eng = warehouse.engine(admin.replace("postgresql://", "postgresql+psycopg://", 1))
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


def one_percent_changed(eng) -> dict[tuple[str, str], list]:
    """A new version, a day after the newest one, of every hundredth record of every entity, as a
    source would deliver them on the next run."""
    from smarketing.sources.base import RawRecord

    changes = {}
    with eng.connect() as conn:
        tables = conn.exec_driver_sql("select table_name from information_schema.tables where table_schema = 'raw'"
                                      " order by table_name").scalars().all()
        for table in tables:
            rows = conn.exec_driver_sql(
                f"with numbered as (select *, row_number() over (order by record_id) as n"  # noqa: S608 - catalog names
                f" from staging.latest_{table}), newest as (select max(version_at) as at from raw.{table})"
                f" select record_id, newest.at + interval '1 day', payload, is_deleted from numbered, newest"
                f" where mod(n, 100) = 0").all()
            changes[tuple(table.split("__", 1))] = [RawRecord(r[0], r[1], r[2], r[3]) for r in rows]
    return changes


def identity_growth(scale: float, seed: int) -> dict[str, dict]:
    """Identity resolution alone, each profile at two sizes ten times apart, in fresh databases."""
    from smarketing import warehouse
    from smarketing.identity_score import score

    out = {}
    for profile, small in (("default", 10 * scale), ("hard", 1 * scale)):
        runs = []
        for size in (small, small * 10):
            url = fresh_database("smarketing_bench_identity")
            eng = warehouse.engine(url.replace("postgresql://", "postgresql+psycopg://"))
            result = score(eng, scale=size, seed=seed, profile=profile)
            eng.dispose()
            runs.append({"scale": size, "records": result.records, "seconds": round(result.seconds, 2),
                         "precision": round(result.precision, 4), "recall": round(result.recall, 4),
                         "f1": round(result.f1, 4), "review_pairs": result.review_pairs})
        small_run, large_run = runs
        growth = ((large_run["seconds"] / small_run["seconds"]) / (large_run["records"] / small_run["records"])
                  if small_run["seconds"] and small_run["records"] else None)
        out[profile] = {"runs": runs, "growth": round(growth, 3) if growth is not None else None}
    return out


def dag_parse_seconds() -> dict[str, float]:
    """Seconds to import each DAG file with Airflow already loaded, as the dag-processor does, each in a
    fresh interpreter so the library's first import counts."""
    import subprocess
    import sys

    from smarketing.config import PATHS
    from smarketing.local_airflow import airflow_env

    probe = ("import sys, time, importlib.util\n"
             "import airflow.sdk\n"
             "path = sys.argv[1]\n"
             "started = time.perf_counter()\n"
             "spec = importlib.util.spec_from_file_location('dag_under_test', path)\n"
             "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
             "print(time.perf_counter() - started)\n")
    env = {**os.environ, **airflow_env(PATHS.root / ".airflow")}
    return {path.name: round(float(subprocess.run([sys.executable, "-c", probe, str(path)], env=env, check=True,
                                                  capture_output=True, text=True).stdout.split()[-1]), 3)
            for path in sorted((PATHS.root / "dags").glob("*.py"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=positive_scale, default=1.0, help=f"x {PEOPLE_PER_SCALE:,} people")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the slowest SQL statements of each stage")
    parser.add_argument("--file-drop-mb", type=float, default=200,
                        help="size of the CSV export loaded as a file drop in a process of its own (0: none)")
    parser.add_argument("--one-scale", action="store_true",
                        help="this scale only, in this process (a scale above 1 otherwise runs SCALE=1 first)")
    parser.add_argument("--no-extras", action="store_true",
                        help="without the full refresh, the identity profiles and the file drop")
    args = parser.parse_args(argv)
    if args.one_scale or args.scale <= 1:
        return measure(args)
    return grow(args)


def grow(args: argparse.Namespace) -> int:
    """SCALE=1 with every extra, then ``args.scale`` without them, each in a process of its own;
    writes both reports into one with the growth between them."""
    found = {}
    for scale, extras in ((1.0, True), (args.scale, False)):
        command = [sys.executable, "-m", "bench.run", "--one-scale", "--scale", str(scale), "--seed", str(args.seed),
                   "--file-drop-mb", str(args.file_drop_mb if extras else 0)]
        command += (["--profile"] if args.profile else []) + ([] if extras else ["--no-extras"])
        lines = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            for line in child.stdout or ():
                print(line, end="", flush=True)
                lines.append(line)
        if child.returncode:
            return child.returncode
        found[scale] = json.loads(Path(lines[-1].split("results: ", 1)[1].strip()).read_text())
    small, large = found[1.0], found[args.scale]
    name = f"scale{args.scale:g}_vs_scale1"
    growth = {name: round(large["ratios"]["pipeline_seconds"] / small["ratios"]["pipeline_seconds"], 3),
              "records_growth": round(large["generated_records"] / small["generated_records"], 3),
              "peak_rss_mb": max(m["peak_rss_mb"] for m in large["stages"].values())}
    report = {**large, "scale1": small, "ratios": {**large["ratios"], **growth}}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n{name}: {growth[name]} for {growth['records_growth']} x the records; peak RSS of any stage at"
          f" SCALE={args.scale:g}: {growth['peak_rss_mb']:.0f} MB")
    print(f"results: {RESULTS / (stamp + '.json')}")
    return 0


def measure(args: argparse.Namespace) -> int:
    """Every stage at one scale in this process, with the baselines."""

    from smarketing import warehouse
    from smarketing.transform import merge_core

    people = max(1, int(PEOPLE_PER_SCALE * args.scale))
    url = fresh_database("smarketing_bench")
    os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"] = url
    os.environ["SMARKETING_EXPORT_DIR"] = str(RESULTS / "exports")
    eng = warehouse.engine(url.replace("postgresql://", "postgresql+psycopg://"))
    warehouse.migrate(eng)

    timings = SqlTimings()
    timings.attach(eng)
    generation, full = Measure(), {name: Measure() for name in STAGES}
    land_generated(eng, people, args.seed, "bench-full", full["landing"], generation)
    run_stages(eng, "bench-full", full, timings)
    baselines = {"copy": copy_baseline(eng).as_dict(), "pandas_to_sql": to_sql_baseline(eng).as_dict()}
    incremental = {name: Measure() for name in STAGES}
    changes = one_percent_changed(eng)
    changed = sum(len(records) for records in changes.values())
    with measured(incremental["landing"]) as m:
        m.rows = sum(land_pages(eng, system, entity, records, "bench-incremental")
                     for (system, entity), records in changes.items())
    run_stages(eng, "bench-incremental", incremental, timings)
    refresh = Measure()
    if not args.no_extras:
        with measured(refresh):  # the same core again from every landed row
            refresh.rows = merge_core(eng, AS_OF, full=True)["staging"]
    full_seconds = sum(m.seconds for m in full.values())
    incremental_seconds = sum(m.seconds for m in incremental.values())
    baselines["incremental"] = {"changed_records": changed, "seconds": round(incremental_seconds, 3),
                                "stages": {k: v.as_dict() for k, v in incremental.items()}}
    baselines["full_refresh_merge"] = refresh.as_dict() if not args.no_extras else None
    landing = full["landing"].as_dict()["rows_per_s"]
    with eng.connect() as conn:  # the output, to compare before and after a change that should keep it
        checksums = {table: f"{rows} {digest}" for table, (rows, digest) in warehouse.checksums(conn).items()}
    parse = dag_parse_seconds()
    identity = identity_growth(args.scale, args.seed) if not args.no_extras else {}
    if args.file_drop_mb:  # after the pipeline's stages: its rows are not the pipeline's
        from bench.file_drop import measure as file_drop

        drop = file_drop(url.replace("postgresql://", "postgresql+psycopg://"), args.file_drop_mb)
        full["file_drop"] = Measure(drop["rows"], drop["seconds"], drop["peak_rss_mb"],
                                    {"file_mb": drop["file_mb"], "rejected": drop["rejected"]})
    report = {
        "scale": args.scale, "people": people, "generated_records": generation.rows,
        "generation": generation.as_dict(),
        "stages": {k: v.as_dict() for k, v in full.items()},
        "baselines": baselines,
        "dag_parse_seconds": parse,
        "identity": identity,
        "checksums": checksums,
        "ratios": {
            "landing_vs_copy": round(landing / baselines["copy"]["rows_per_s"], 4) if baselines["copy"]["rows_per_s"]
            else None,
            "landing_vs_to_sql": round(landing / baselines["pandas_to_sql"]["rows_per_s"], 2)
            if baselines["pandas_to_sql"]["rows_per_s"] else None,
            "incremental_vs_full": round(incremental_seconds / full_seconds, 4) if full_seconds else None,
            "pipeline_vs_copy": round(full_seconds / baselines["copy"]["seconds"], 2) if baselines["copy"]["seconds"]
            else None,
            "pipeline_seconds": round(full_seconds, 1),
            "incremental_seconds": round(incremental_seconds, 1),
            "slowest_dag_parse_seconds": max(parse.values()),
            "file_drop_peak_rss_mb": full["file_drop"].peak_rss_mb if "file_drop" in full else None,
            **{f"identity_growth_{profile}": found["growth"] for profile, found in identity.items()},
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    table = ["| stage | rows | seconds | rows/s | peak RSS MB |", "|---|---|---|---|---|"]
    rows = {**report["stages"], **{f"incremental: {k}": v for k, v in baselines["incremental"]["stages"].items()},
            "full refresh: merge": baselines["full_refresh_merge"], "baseline: COPY": baselines["copy"],
            "baseline: pandas to_sql": baselines["pandas_to_sql"]}
    for name, m in rows.items():
        if m is None:
            continue
        table.append(f"| {name} | {m['rows']:,} | {m['seconds']:.2f} | {m['rows_per_s']:,.0f} "
                     f"| {m['peak_rss_mb']:.0f} |")
    if identity:  # not with --no-extras
        table += ["", "| identity profile | scale | records | seconds | precision | recall | F1 | review pairs |",
                  "|---|---|---|---|---|---|---|---|"]
        table += [f"| {profile} | {r['scale']:g} | {r['records']:,} | {r['seconds']:.2f} | {r['precision']:.4f} "
                  f"| {r['recall']:.4f} | {r['f1']:.4f} | {r['review_pairs']} |"
                  for profile, found in identity.items() for r in found["runs"]]
    table += ["", *(f"- {k}: {v}" for k, v in report["ratios"].items())]
    (RESULTS / f"{stamp}.md").write_text("\n".join(table) + "\n")
    (RESULTS / f"{stamp}.checksums.txt").write_text("".join(f"{t} {c}\n" for t, c in checksums.items()))
    print(f"scale {args.scale} ({people:,} people, {generation.rows:,} records generated in "
          f"{generation.seconds:.1f} s)")
    print("\n".join(table))
    if args.profile:
        for label, stages in (("full", full), ("incremental", incremental)):
            for name, m in stages.items():
                print(f"\n{label} {name}: slowest statements (calls, seconds)")
                for statement, calls, seconds in m.extra.get("top_sql", []):
                    print(f"  {seconds:8.3f}  {calls:5d}  {statement}")
    print(f"results: {RESULTS / (stamp + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
