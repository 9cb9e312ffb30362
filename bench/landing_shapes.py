"""What limits landing: the server's own work per raw-table shape, on the same encoded pages.

    .venv/bin/python -m bench.landing_shapes --scale 0.3

Encodes the generated pages once (landing's own COPY text), then COPYs them, one transaction per
page as landing does, into tables of four shapes in a database of its own: a bare table with a
``jsonb`` payload, plus the primary key (record_id, version_at), plus the ``batch_id`` index, plus
the trigger that refuses rows of checked batches (the raw table as landing makes it). The client
does nothing but send bytes, so each time is the server's. Beside them, the same rows through
``land_page`` and the server-side ``COPY`` baseline of bench/run.py.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime

from bench.run import PAGE_SIZE, PEOPLE_PER_SCALE, copy_baseline, fresh_database, positive_scale

SHAPES = {
    "bare, jsonb payload": "",
    "+ primary key": "pk",
    "+ batch_id index": "pk idx",
    "+ checked-batch trigger (the raw table)": "pk idx trigger",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=positive_scale, default=0.3, help=f"x {PEOPLE_PER_SCALE:,} people")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from smarketing import landing, warehouse
    from smarketing.demo.world import generate_chunks

    url = fresh_database("smarketing_bench_landing")
    os.environ["AIRFLOW_CONN_SMARKETING_WAREHOUSE"] = url
    eng = warehouse.engine(url.replace("postgresql://", "postgresql+psycopg://"))
    warehouse.migrate(eng)
    pages: list[tuple[str, str, list]] = []
    for part in generate_chunks(args.seed, max(1, int(PEOPLE_PER_SCALE * args.scale)), chunk_people=10_000):
        for (system, entity), records in part.records.items():
            unique = list({(r.record_id, r.version_at): r for r in records}.values())  # the key holds
            pages += [(system, entity, unique[s:s + PAGE_SIZE]) for s in range(0, len(unique), PAGE_SIZE)]
    now = datetime.now(UTC)
    encoded = [(f"{system}__{entity}", list(landing._copy_chunks(page, str(uuid.uuid4()), now)))
               for system, entity, page in pages]
    rows = sum(len(page) for _, _, page in pages)
    columns = "(" + ", ".join(landing.COLUMNS) + ")"
    print(f"{rows:,} rows in {len(pages)} pages")
    results = {}
    for n, (shape, parts) in enumerate(SHAPES.items()):
        schema = f"shape_{n}"
        with eng.begin() as conn:
            conn.exec_driver_sql(f"create schema {schema}")
            key = ", primary key (record_id, version_at)" if "pk" in parts else ""
            for table in {table for table, _ in encoded}:
                conn.exec_driver_sql(
                    f"create table {schema}.{table} (record_id text not null, version_at timestamptz not null,"
                    " is_deleted boolean not null, payload jsonb not null, batch_id uuid not null,"
                    f" extracted_at timestamptz not null{key})")
                if "idx" in parts:
                    conn.exec_driver_sql(f"create index on {schema}.{table} (batch_id)")
                if "trigger" in parts:
                    conn.exec_driver_sql(f"call meta.close_checked_batches('{schema}.{table}')")
        started = time.perf_counter()
        for table, chunks in encoded:
            with eng.begin() as conn, warehouse.dbapi(conn).cursor() as cur, \
                    cur.copy(f"copy {schema}.{table} {columns} from stdin") as copy:
                for chunk in chunks:
                    copy.write(chunk)
        results[shape] = time.perf_counter() - started
    started = time.perf_counter()
    for system, entity, page in pages:
        landing.land_page(eng, system, entity, page, "shapes", now)
    results["land_page (encoding + the raw table)"] = time.perf_counter() - started
    results["baseline: server COPY from a file, bare table"] = copy_baseline(eng).seconds
    bare = results["bare, jsonb payload"]
    print("| shape | seconds | rows/s | x bare |\n|---|---|---|---|")
    for shape, seconds in results.items():
        print(f"| {shape} | {seconds:.2f} | {rows / seconds:,.0f} | {seconds / bare:.2f} |")


if __name__ == "__main__":
    main()
