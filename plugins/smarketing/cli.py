"""``smarketing``: the command line for people.

    smarketing demo                       run the whole pipeline on demo data and print the results
    smarketing warehouse start|stop|url   the embedded PostgreSQL warehouse
    smarketing migrate                    apply pending warehouse migrations
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from smarketing.config import PATHS


def _warehouse(args: argparse.Namespace) -> int:
    from smarketing import config, embedded
    from smarketing.report import safe_url

    if args.action == "start":
        url = embedded.start(PATHS.warehouse_data)
        print(f"embedded warehouse running: {safe_url(url)}  (data in {PATHS.warehouse_data})")
    elif args.action == "stop":
        stopped = embedded.stop(PATHS.warehouse_data)
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    else:
        url = config.warehouse_url(start_embedded=False)
        print(safe_url(url))
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from smarketing import config, warehouse

    applied = warehouse.migrate(warehouse.engine(config.warehouse_url()))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from smarketing import demo

    as_of = date.fromisoformat(args.as_of)
    print(f"Preparing Airflow metadata (SQLite) in {PATHS.root / '.airflow'} ...", flush=True)
    demo.prepare_airflow(PATHS.root / ".airflow")

    from smarketing import config, warehouse
    from smarketing.report import summary

    url = config.warehouse_url()  # starts the embedded warehouse unless a connection is configured
    hubspot_url, salesforce_url = demo.start_fake_apis()
    print(f"Demo data served by fake APIs: HubSpot {hubspot_url}, Salesforce {salesforce_url}", flush=True)
    print("Running the DAGs with dag.test() ...", flush=True)
    outcomes = demo.run_dags(as_of)
    for outcome in outcomes:
        print(f"  {outcome.dag_id:<24} {outcome.state:<8} {outcome.seconds:6.1f} s")
    if any(o.state != "success" for o in outcomes) or len(outcomes) != len(demo.DAG_ORDER):
        print("The pipeline failed; the task logs above say why.", file=sys.stderr)
        return 1
    print()
    print(summary(warehouse.engine(url), url, as_of))
    return 0


def main(argv: list[str] | None = None) -> int:
    from smarketing.sources.demo import AS_OF

    parser = argparse.ArgumentParser(prog="smarketing", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on the demo data through Airflow")
    demo.add_argument("--as-of", default=AS_OF.isoformat(), help="business date of the run (default %(default)s)")
    demo.set_defaults(func=_demo)

    wh = sub.add_parser("warehouse", help="the embedded PostgreSQL warehouse")
    wh.add_argument("action", choices=["start", "stop", "url"])
    wh.set_defaults(func=_warehouse)

    mig = sub.add_parser("migrate", help="apply pending warehouse migrations")
    mig.set_defaults(func=_migrate)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
