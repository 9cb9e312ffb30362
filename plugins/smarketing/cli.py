"""``smarketing``: the command line for people.

    smarketing demo                       run the whole pipeline on demo data and print the results
    smarketing run [--as-of D] [--full-refresh] [--resync SYSTEM[.ENTITY]] [--only STAGE]
                                          the same on your own sources (config/)
    smarketing warehouse start|stop|url|psql [--admin]   the embedded PostgreSQL warehouse
    smarketing migrate                    apply pending warehouse migrations
    smarketing config check               validate every file in config/ (unknown keys, types, values)
    smarketing fakes serve                serve the demo data through fake HubSpot, Salesforce and Mailchimp APIs
    smarketing generate --out FILE        write the demo dataset's ground truth (who is who, who is suppressed)
    smarketing identity-score [--profile default|hard] [--scale N]   identity resolution against that truth
    smarketing identity review [--same|--different|--undo RECORD RECORD]   pairs left to a person
    smarketing files status [DROP]        what the next run does with each file of the drops, and why
    smarketing files reload DROP          load every file of a drop again now (after fixing its mapping)
    smarketing files release DROP FILE    lift the hold on the addresses of a rejected file given up for good
    smarketing lists pull PROGRAM [--format csv|json] [--out FILE]    a nurture list for marketing
    smarketing lists suppress EMAIL --reason TEXT                     keep an address off every list
    smarketing lists push PROGRAM [--dry-run]      send a list to its platforms now (or say what would change)

Exit codes: 0 done; 1 the work failed or there was nothing to do it on (a run failed, a list not
built for that date); 2 a wrong command, option, value or file; 3 the warehouse cannot be
reached; 130 interrupted; 141 the reader of the output went away (``| head``). An expected
failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date
from pathlib import Path
from typing import Any

from smarketing.config import PATHS


def _warehouse(args: argparse.Namespace) -> int:
    from smarketing import config, embedded
    from smarketing.report import safe_url

    if args.action != "create-login" and (args.name is not None or args.role is not None):
        print(f"warehouse {args.action} takes no login name or --role (only create-login does)", file=sys.stderr)
        return 2
    if args.admin and args.action != "psql":
        print(f"warehouse {args.action} takes no --admin (only psql does)", file=sys.stderr)
        return 2
    if args.action == "start":
        url = embedded.start(PATHS.warehouse_data)
        print(f"embedded warehouse running: {safe_url(url)}  (data in {PATHS.warehouse_data})")
    elif args.action == "stop":
        stopped = embedded.stop(PATHS.warehouse_data)
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    elif args.action == "remove":
        embedded.remove(PATHS.warehouse_data)
        print(f"embedded warehouse stopped and its data deleted ({PATHS.warehouse_data})")
    elif args.action == "create-login":
        return _create_login(args)
    elif args.action == "psql":
        command = embedded.psql_command(PATHS.warehouse_data,
                                        user=embedded.SUPERUSER if args.admin else embedded.OWNER)
        os.execv(command[0], [*command, *args.psql_args])
    elif args.action == "checksums":
        from smarketing import warehouse

        with warehouse.engine(config.warehouse_url()).connect() as conn:
            for table, (rows, digest) in warehouse.checksums(conn).items():
                print(f"{table} {rows} {digest}")
    else:
        print(safe_url(config.warehouse_url()))
    return 0


def _create_login(args: argparse.Namespace) -> int:
    """A login in one of the warehouse's reader or loader roles, its password from
    SMARKETING_NEW_LOGIN_PASSWORD. Never turns a group role, the pipeline's owner or an
    administrator into a login; for an existing login it changes the password and says which
    roles the login holds."""
    import re

    import psycopg
    from psycopg import sql

    from smarketing import config, embedded
    from smarketing.warehouse import password_verifier

    roles = ("smarketing_bi", "smarketing_marketing", "smarketing_loader")
    if not args.name or args.role not in roles:
        print(f"usage: smarketing warehouse create-login NAME --role {'|'.join(roles)}", file=sys.stderr)
        return 2
    reserved = ("postgres", "public", "none", "current_user", "current_role", "session_user", "user", "all")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.name) or args.name.startswith(("smarketing_", "pg_")) \
            or args.name in reserved:
        print(f"{args.name!r} cannot be a tool's login: at most 63 lowercase letters, digits and _, not starting"
              f" with smarketing_ or pg_ (the warehouse's own roles), not one of {', '.join(reserved)}",
              file=sys.stderr)
        return 2
    password = os.environ.get("SMARKETING_NEW_LOGIN_PASSWORD", "")
    if not password:
        print("set SMARKETING_NEW_LOGIN_PASSWORD to the new login's password", file=sys.stderr)
        return 2
    verifier = password_verifier(password)
    if verifier == password:
        print("choose another password: this one PostgreSQL would normalise (SASLprep) before hashing, so it"
              " could only be sent as it is, and a failed statement would write it into the server log",
              file=sys.stderr)
        return 2
    if config.connection_uri() is None:  # the embedded warehouse: its superuser makes logins
        embedded.start(PATHS.warehouse_data)
        url = embedded.admin_url(PATHS.warehouse_data, embedded.DATABASE)
    else:
        url = config.warehouse_url().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select rolcanlogin, rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls"
            " or pg_has_role(oid, 'smarketing_owner', 'MEMBER') from pg_roles where rolname = %s",
            (args.name,)).fetchone()
        if found is not None and (found[1] or not found[0]):
            print(f"{args.name} is {'an administrator or the pipeline' if found[1] else 'a group role'}, not a"
                  " tool's login", file=sys.stderr)
            return 2
        verb = "alter" if found else "create"
        try:
            conn.execute(sql.SQL(verb + " role {} login password {}").format(
                sql.Identifier(args.name), sql.Literal(verifier)))
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(args.role), sql.Identifier(args.name)))
        except psycopg.errors.InsufficientPrivilege:
            print(f"the warehouse connection may not create logins (the pipeline is no administrator); as an"
                  f" administrator run: create role {args.name} login password '...' in role {args.role}",
                  file=sys.stderr)
            return 2
        held = [r for (r,) in conn.execute(
            "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid"
            " join pg_roles u on u.oid = m.member where u.rolname = %s order by 1", (args.name,))]
    print(f"login {args.name} {'password changed' if found else 'created'}; its roles: {', '.join(held)}")
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from smarketing import config, warehouse

    applied = warehouse.migrate(warehouse.engine(config.warehouse_url()))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    return _run(args, demo=True)


def _run(args: argparse.Namespace, demo: bool = False) -> int:
    """Run the DAGs through Airflow in this process (``dag.test``), then print the summary."""
    from smarketing import local_airflow

    as_of = args.as_of
    if as_of > date.today():
        print(f"--as-of {as_of} is in the future: a business date can only be today or earlier", file=sys.stderr)
        return 2
    if getattr(args, "resync", None):  # a name matching nothing configured: said now, not after the start-up
        from smarketing.config import ConfigError
        from smarketing.sources import check_resync

        try:
            check_resync(list(args.resync))
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    only = getattr(args, "only", None)
    if getattr(args, "full_refresh", False) and only and "transform" not in only:
        print("--full-refresh recomputes core in the transform stage: add --only transform, or leave --only out",
              file=sys.stderr)
        return 2
    stages = tuple(d for d in local_airflow.DAG_ORDER if not only or d.removeprefix("smarketing_") in only)
    print(f"Preparing Airflow metadata (SQLite) in {PATHS.root / '.airflow'} ...", flush=True)
    local_airflow.prepare_airflow(PATHS.root / ".airflow")

    from sqlalchemy import text

    from smarketing import config, settings, warehouse
    from smarketing.report import summary

    settings.require_valid()
    if config.connection_uri() is None:  # the local warehouse, unless one is configured
        from smarketing import embedded

        embedded.start(PATHS.warehouse_data)
    url = config.warehouse_url()
    if demo:
        from smarketing.demo import start_fake_apis

        hubspot_url, salesforce_url, mailchimp_url = start_fake_apis()
        print(f"Demo data served by fake APIs: HubSpot {hubspot_url}, Salesforce {salesforce_url},"
              f" Mailchimp {mailchimp_url}", flush=True)
    print(f"Running {', '.join(stages)} for {as_of} with dag.test() ...", flush=True)
    conf: dict[str, Any] = {"full_refresh": True} if getattr(args, "full_refresh", False) else {}
    if getattr(args, "resync", None):
        conf["resync"] = list(args.resync)
    def done(outcome: local_airflow.DagOutcome) -> None:  # as each DAG finishes: a long run shows progress
        print(f"  {outcome.dag_id:<24} {outcome.state if outcome.ok else outcome.problem():<8}"
              f" {outcome.seconds:6.1f} s", flush=True)

    outcomes = local_airflow.run_dags(as_of, stages, conf or None, on_done=done)
    failed = len(outcomes) != len(stages) or not all(o.ok for o in outcomes)
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        built = conn.execute(text("select as_of from meta.runs where stage = 'kpis' and as_of is not null"
                                  " order by finished_at desc limit 1")).scalar()
    if built is None:
        print("\nNo KPIs built yet: run the transform and kpis stages (without --only) for results.")
    else:  # after a failure too: what the warehouse holds now (a stage that failed changed nothing)
        if built != as_of:
            print(f"\nThe marts are from the last KPI run, as of {built} (this run did not build them).")
        print()
        print(summary(eng, url, built))
    if failed:
        print("\nThe run failed; the task logs above say why.", file=sys.stderr)
        return 1
    return 0


def _fakes(args: argparse.Namespace) -> int:
    import time

    from smarketing.demo.fakes import start_demo_fakes
    from smarketing.demo.world import generate

    _, _, _, env = start_demo_fakes(generate(seed=args.seed, people=args.people), args.hubspot_port,
                                    args.salesforce_port, args.mailchimp_port)
    print("Fake APIs serving the demo dataset. Point the connectors at them with:")
    for key, value in env.items():
        print(f"export {key}='{value}'")
    print("Ctrl-C stops them.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from smarketing.demo.world import generate

    dataset = generate(seed=args.seed, people=args.people)
    dataset.write_ground_truth(Path(args.out))
    sizes = ", ".join(f"{s}.{e} {len(r)}" for (s, e), r in sorted(dataset.records.items()))
    print(f"ground truth of seed {args.seed}, {args.people} people -> {args.out}\n{sizes}")
    return 0


def _identity_score(args: argparse.Namespace) -> int:
    from smarketing import embedded, warehouse
    from smarketing.identity_score import score

    embedded.start(PATHS.warehouse_data)
    database = "smarketing_identity_score"
    eng = warehouse.engine(embedded.fresh_database(PATHS.warehouse_data, database))
    result = score(eng, scale=args.scale, seed=args.seed, profile=args.profile)
    print(f"profile: {args.profile}, scale: {args.scale} (seed {args.seed})")
    print("\n".join(result.lines()))
    eng.dispose()
    embedded.drop_database(PATHS.warehouse_data, database)
    return 0


class _PlainHelp(argparse.HelpFormatter):
    """Help as a terminal shows it: the docstrings' ``code`` marks dropped."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(_unmarked(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return _unmarked(super()._expand_help(action))


def _unmarked(text: str) -> str:
    import re

    return re.sub(r"``?([^`]+)``?", r"\1", text)


class _Parser(argparse.ArgumentParser):
    """Every parser and sub-parser of the command line, with the plain help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _PlainHelp)
        super().__init__(*args, **kwargs)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smarketing")
    except PackageNotFoundError:
        return "(not installed)"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _positive_scale(value: str) -> float:
    scale = float(value)
    if not scale > 0 or scale == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not a positive scale")
    return scale


def _shown_text(value: str) -> str:
    """Text from the sources as a terminal may show it: control characters (line breaks, escape
    sequences) written as their code, so a value cannot fake a line of the listing or drive the
    terminal."""
    import unicodedata

    return "".join(ch if unicodedata.category(ch)[0] != "C" else f"\\u{ord(ch):04x}" for ch in value)


def _identity(args: argparse.Namespace) -> int:
    import getpass
    import shlex

    from smarketing import config, identity, warehouse

    decision = "same" if args.same else "different" if args.different else "undo" if args.undo else None
    if decision is None and (args.note is not None or args.by is not None):
        print("smarketing: --note and --by go with a decision (--same or --different)", file=sys.stderr)
        return 2
    if args.by is not None and not args.by.strip():
        print("smarketing: --by needs a name", file=sys.stderr)
        return 2
    eng = warehouse.engine(config.warehouse_url())
    if decision:
        left, right = args.same or args.different or args.undo
        try:
            with eng.begin() as conn:
                if decision == "undo":
                    if not identity.undo(conn, left, right):
                        print(f"smarketing: no decision about {_shown_text(left)} and {_shown_text(right)}",
                              file=sys.stderr)
                        return 2
                else:
                    identity.decide(conn, left, right, decision, args.by or getpass.getuser(), args.note)
        except ValueError as exc:
            print(f"smarketing: {_shown_text(str(exc))}", file=sys.stderr)
            return 2
        what = {"same": "one person", "different": "two people", "undo": "no decision any more"}[decision]
        print(f"{_shown_text(left)} and {_shown_text(right)}: {what}; the next merge (`smarketing run`, or the"
              " DAGs) applies it" + ("" if decision == "undo" else ", and every later one keeps it"))
        return 0
    with eng.connect() as conn:
        pairs = identity.review_queue(conn, args.limit)
        waiting = conn.exec_driver_sql("select count(*) from core.identity_review").scalar_one()
    if not pairs:
        print("no pairs wait for a decision (core.identity_review is empty)")
        return 0
    for n, pair in enumerate(pairs, 1):
        print(f"{n}. weight {pair.score:g}: {pair.reason}")
        for s in (pair.left, pair.right):
            shown = " | ".join(_shown_text(p) for p in (s.name, s.company, s.email, s.title, s.city) if p)
            print(f"   {_shown_text(s.record):<36} {shown}")
        print(f"   evidence: {', '.join(f'{k} {v}' for k, v in pair.evidence.items())}")
        print(f"   decide: smarketing identity review --same {shlex.quote(pair.left.record)}"
              f" {shlex.quote(pair.right.record)}  (or --different)")
    if waiting > len(pairs):
        print(f"... {waiting - len(pairs)} more (--limit)")
    return 0


def _config(args: argparse.Namespace) -> int:
    from smarketing import settings
    from smarketing.config import PATHS

    problems = settings.check_all()
    for name in settings.MODELS:
        path = settings.path_of(name)
        mine = problems.get(name, [])
        state = "absent (optional)" if not path.exists() and name in settings.OPTIONAL else (
            "invalid" if mine else "ok")
        print(f"{path.relative_to(PATHS.root) if path.is_relative_to(PATHS.root) else path}: {state}")
        for problem in mine:
            print(f"  {problem.removeprefix(str(path) + ': ')}")
        if name == "file_drops" and state == "ok":
            from smarketing.file_drops import load_drops

            for drop in load_drops():  # a folder still to come is no error, a typo must not pass unsaid
                if "://" not in drop.location and not Path(drop.location).is_dir():
                    print(f"  note: drops.{drop.name}.location: folder {drop.location} does not exist: no file"
                          " of it is read until it does")
    return 1 if problems else 0


def _files(args: argparse.Namespace) -> int:
    from smarketing import config, embedded, settings, warehouse
    from smarketing.config import PATHS
    from smarketing.file_drops import (
        FileDropError,
        holds,
        load_drop,
        load_drops,
        plan,
        release,
        still_held_by,
        unmatched,
    )

    settings.require_valid()
    drops = {d.name: d for d in load_drops()}
    if not drops:
        print(f"no file drops: {settings.path_of('file_drops')} is absent or lists none", file=sys.stderr)
        return 1
    if args.drop and args.drop not in drops and args.action != "release":
        print(f"no drop {args.drop!r}; drops: {', '.join(sorted(drops))}", file=sys.stderr)
        return 2
    stopped = False
    try:
        eng = warehouse.engine(config.warehouse_url())
    except config.ConfigError:
        if args.action == "reload":
            raise
        eng = None
        stopped = embedded.exists(PATHS.warehouse_data)
        if stopped:  # what it loaded is not known: every file is listed as the files alone say
            print(f"(the warehouse in {_shown(str(PATHS.warehouse_data))} is stopped: which files it loaded is not"
                  " known; `smarketing warehouse start` shows it)")
        else:
            print("(no warehouse running or configured: nothing has been loaded yet)")
    if args.action == "release":
        if eng is None or not args.drop or not args.file:
            print("usage: smarketing files release DROP FILE (with the warehouse running)", file=sys.stderr)
            return 2
        if args.drop not in drops and args.drop not in holds(eng):
            print(f"no drop {args.drop!r} and no holds of one so named; drops: {', '.join(sorted(drops))}",
                  file=sys.stderr)
            return 2
        found = still_held_by(eng, drops.values(), args.drop, args.file)  # a renamed drop's folder too
        if found is not None:
            holder, copy = found
            where = "the drop's folder" if holder.name == args.drop else f"the folder of drop {holder.name}"
            what = "is still" if copy == args.file else f"was renamed: its content is in {_shown(copy)}"
            then = "" if holder.name == args.drop else (
                f"; once drop {holder.name} has read it, reading the same entity, the hold is that drop's and this"
                " one can be released")
            print(f"drop {args.drop}: file {_shown(args.file)} {what} in {where}: fix it (a version that loads"
                  " lifts its hold; the drop's `values` one for a type or status no word names) or remove it,"
                  f" then release it{then}", file=sys.stderr)
            return 1
        released = release(eng, args.drop, args.file)
        print(f"drop {args.drop}: file {_shown(args.file)}: " + (
            f"the hold on its {released} address(es) is lifted; the next run's lists may hold them again"
            if released else "holds no address: nothing to lift"))
        return 0 if released else 1
    if args.action == "reload":
        assert eng is not None
        if not args.drop:
            print("usage: smarketing files reload DROP", file=sys.stderr)
            return 2
        stats = load_drop(eng, drops[args.drop], f"reload_{date.today().isoformat()}", force=True)
        print(f"drop {args.drop}: {stats.files_loaded} file(s) loaded again ({stats.rows_loaded} rows,"
              f" {stats.rows_quarantined} quarantined, {stats.rows_deleted} marked deleted)")
        for name, reason in {**stats.skipped, **stats.rejected}.items():
            print(f"  {_shown(name)}: {reason}")
        print("The next run (`smarketing run`, or the DAGs) validates and merges them.")
        return 1 if stats.rejected else 0
    unreadable = 0
    left_out = unmatched(list(drops.values()))
    held = holds(eng) if eng is not None else {}
    for name in [args.drop] if args.drop else sorted(drops):
        drop = drops[name]
        print(f"drop {name} ({drop.mode}, {drop.entity}) in {_shown(drop.location)}")
        try:
            steps, outside = plan(eng, drop)
        except (FileDropError, OSError) as exc:
            print(f"  cannot be read: {_shown(str(exc))}")
            unreadable += 1
            continue
        if not steps and not outside:
            print(f"  no file matches {drop.pattern!r}")
        for step in steps:
            reason = step.reason or "loads on the next run"
            if stopped and reason.startswith("loads on the next run"):
                reason = "loaded or not: the warehouse is stopped"
            print(f"  {_shown(step.file.name)}: {reason}")
        for file, reason in (outside | left_out.get(name, {})).items():
            print(f"  {_shown(file)}: {reason}")
        _print_holds(name, held.get(name, {}))
    for name in [] if args.drop else sorted(set(held) - set(drops)):
        print(f"drop {_shown(name)}, no longer in file_drops.yaml: its holds stay until released")
        _print_holds(name, held[name])
    return 1 if unreadable else 0


def _print_holds(drop: str, files: dict[str, tuple[int, Any, list[str]]]) -> None:
    for file, (count, since, values) in files.items():
        until = "until a new version of it loads" if not values else (
            "those of rows with a type or status no word names (" + ", ".join(
                _shown(repr(v)) if v else "none" for v in values)
            + ") until the drop's `values` maps it, whatever version of the file is there, any other until a new"
              " version of it loads")
        print(f"  {_shown(file)}: {count} address(es) in it held off every list since"
              f" {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC {until} (`smarketing files"
              f" release {_shown(drop)} {_shown(file)}` gives it up once it is removed)")


def _shown(text: str) -> str:
    """``text`` with control characters escaped: a file name must not rewrite the terminal's lines."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from smarketing import config, kpi_report, warehouse

    if args.out == "":
        print("smarketing: --out needs a file name (or - for standard output); nothing was written", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out not in (None, "-") else None
    if out is not None and not out.resolve().parent.is_dir():
        print(f"smarketing: cannot write {args.out}: its folder does not exist; nothing was written", file=sys.stderr)
        return 2
    eng = warehouse.engine(config.warehouse_url())
    if args.out == "-":
        sys.stdout.write(kpi_report.render(eng, args.as_of)[0])
        return 0
    try:
        path = kpi_report.write(eng, args.as_of, out)
    except kpi_report.ReportPathError as exc:
        print(f"smarketing: {_shown(str(exc))}", file=sys.stderr)
        return 2
    shown = os.path.relpath(path)
    print(f"KPI report: {_shown(str(path) if shown.startswith('..') else shown)}")
    return 0


def _lists(args: argparse.Namespace) -> int:
    import csv
    import json
    from pathlib import Path

    from sqlalchemy import text

    from smarketing import config, warehouse
    from smarketing.mailbox import fold, is_address, mailbox_key
    from smarketing.nurture.lists import spreadsheet_safe
    from smarketing.nurture.programs import load_programs

    if args.action == "suppress" and not is_address(args.email):
        print(f"{args.email!r} is not an email address; nothing was suppressed", file=sys.stderr)
        return 2
    if args.action == "push":
        return _push(args)
    if args.action == "pull":  # said before the warehouse is asked anything
        programs = load_programs()
        if args.program not in programs:
            print(f"no program {args.program!r}; programs: {', '.join(sorted(programs))}", file=sys.stderr)
            return 2
        if args.out == "-":
            args.out = None
        if args.out and not Path(args.out).resolve().parent.is_dir():
            print(f"smarketing: cannot write {args.out}: its folder does not exist; nothing was written",
                  file=sys.stderr)
            return 2
    eng = warehouse.engine(config.warehouse_url())
    if args.action == "suppress":
        email = fold(args.email)
        with eng.begin() as conn:
            conn.execute(text("insert into nurture.manual_suppression (email, reason) values (:email, :reason)"
                              " on conflict (email) do update set reason = excluded.reason"),
                         {"email": email, "reason": args.reason})
        print(f"mailbox {mailbox_key(email)} (every spelling of it: case, +tags, Gmail dots) is suppressed on"
              " every list from the next nurture run on (nurture.manual_suppression)")
        return 0
    fields = programs[args.program].fields
    with eng.connect() as conn:
        as_of = args.as_of or conn.execute(text("select max(as_of) from nurture.list_runs where program = :program"),
                                           {"program": args.program}).scalar()
        if as_of is None:
            print(f"program {args.program!r} has not been built yet; run the nurture DAG", file=sys.stderr)
            return 1
        built = conn.execute(text("select 1 from nurture.list_runs where program = :program and as_of = :as_of"),
                             {"program": args.program, "as_of": as_of}).first()
        if built is None:
            print(f"program {args.program!r} was not built for {as_of}; nothing was written (`smarketing lists"
                  f" pull {args.program}` without --as-of takes the latest run)", file=sys.stderr)
            return 1
        rows = conn.execute(text(
            "select email, first_name, last_name,"
            " (select jsonb_object_agg(key, value) from jsonb_each_text(attributes)) as attributes"
            " from nurture.list_members where program = :program and as_of = :as_of"
            " and not nurture.is_suppressed(person_id, mailbox_key) order by email"),
            {"program": args.program, "as_of": as_of}).all()
    records = [{f: (dict(zip(("email", "first_name", "last_name"), r[:3], strict=True)) | (r[3] or {})).get(f)
                for f in fields} for r in rows]
    out = sys.stdout
    if args.out:  # personal data: a file only its owner reads, even one that existed before
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            print(f"smarketing: cannot write {args.out}: {exc.strerror}; nothing was written", file=sys.stderr)
            return 2
        os.fchmod(fd, 0o600)
        out = os.fdopen(fd, "w", newline="", encoding="utf-8")
    try:
        if args.format == "json":
            json.dump(records, out, indent=1, default=str)
            out.write("\n")
        else:
            writer = csv.DictWriter(out, fieldnames=list(fields))
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in r.items()} for r in records)
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"{len(records)} members of {args.program} as of {as_of} -> {Path(args.out)}", file=sys.stderr)
    return 0


def _push(args: argparse.Namespace) -> int:
    from smarketing import config, warehouse
    from smarketing.nurture.destinations import PLATFORMS
    from smarketing.nurture.programs import nurture_settings
    from smarketing.nurture.push import push_all

    settings = nurture_settings()
    program = settings["programs"].get(args.program)
    eng = warehouse.engine(config.warehouse_url())
    with eng.connect() as conn:
        from sqlalchemy import text

        pushed_before = conn.execute(text("select count(*) from nurture.platform_sync where program = :program"
                                          " and in_list"), {"program": args.program}).scalar_one()
    if program is None and not pushed_before:
        print(f"no program {args.program!r}; programs: {', '.join(sorted(settings['programs']))}", file=sys.stderr)
        return 2
    platforms = [d for d in (program or {"destinations": []})["destinations"] if d in PLATFORMS]
    if not platforms and not pushed_before:
        others = ", ".join((program or {}).get("destinations", [])) or "none"
        print(f"program {args.program!r} names no platform to push to (its destinations: {others}; the nurture run"
              " writes those)", file=sys.stderr)
        return 1
    errors: list[str] = []
    if not args.dry_run:  # a manual suppression since the last nurture run leaves the platforms now
        from smarketing.nurture.lists import refresh_suppression

        refresh_suppression(eng, settings)
    results = push_all(eng, settings, errors, only=args.program, dry_run=args.dry_run)
    verb = ("would add", "would remove") if args.dry_run else ("added", "removed")
    for key, result in sorted(results.items()):
        platform = key.split(".", 1)[1]
        extra = []
        if result.get("without_record"):
            n = result["without_record"]
            extra.append(f"{n} member{'s have' if n != 1 else ' has'} no record there")
        if result.get("refused"):
            extra.append(f"{result['refused']} refused by the platform (the log says why)")
        if result.get("retired"):
            extra.append("the program no longer names this platform: its list is emptied")
        print(f"{args.program} -> {platform} {result['target']}: {verb[0]} {result['added']}, {verb[1]}"
              f" {result['removed']}" + "".join(f"; {e}" for e in extra))
    for error in errors:
        print(f"smarketing: {error}", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing was sent", file=sys.stderr)
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    from smarketing.demo.world import AS_OF
    from smarketing.local_airflow import STAGES

    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.pop("PGPASSWORD", None) is not None:
        # libpq would send it instead of the password the connection or the server's password file holds
        print("smarketing: PGPASSWORD is ignored (passwords come from the Airflow connection or the embedded"
              " server's password file)", file=sys.stderr)
    psql_args: list[str] = []
    if argv[:2] == ["warehouse", "psql"]:  # the rest goes to psql itself (-c, -f, ...); all after a "--"
        rest = argv[2:]
        ours, psql_args = (rest[:rest.index("--")], rest[rest.index("--") + 1:]) if "--" in rest else (
            rest, [a for a in rest if a != "--admin"])
        argv = argv[:2] + (["--admin"] if "--admin" in ours else [])

    parser = _Parser(prog="smarketing", description=__doc__.split("\n\n")[0],
                     epilog=__doc__.split("\n\n")[-1].strip())
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline on the demo data through Airflow")
    demo.add_argument("--as-of", type=date.fromisoformat, default=AS_OF,
                      help="business date of the run (default %(default)s)")
    demo.set_defaults(func=_demo)

    run = sub.add_parser("run", help="run the DAGs on the configured sources through Airflow, then show results",
                         description="Run the four DAGs once, in this process, on the sources of config/ (APIs"
                                     " through their Airflow connections, file drops), then print the summary."
                                     " Exits non-zero when a task failed or nothing ran.")
    run.add_argument("--as-of", type=date.fromisoformat, default=date.today(),
                     help="business date (YYYY-MM-DD, today or earlier; default today)")
    run.add_argument("--full-refresh", action="store_true", help="recompute core from every landed row")
    run.add_argument("--resync", action="append", metavar="SYSTEM[.ENTITY]",
                     help="read this entity (or every entity of this system) again from the beginning; records"
                          " the source no longer has land as deletions (repeatable)")
    run.add_argument("--only", action="append", choices=list(STAGES), metavar="STAGE",
                     help=f"run only this stage (repeatable): {', '.join(STAGES)}")
    run.set_defaults(func=_run)

    wh = sub.add_parser("warehouse", help="the embedded PostgreSQL warehouse")
    wh.add_argument("action", choices=["start", "stop", "url", "psql", "create-login", "checksums", "remove"],
                    help="checksums: row count and md5 of every core, marts and nurture table, without the"
                         " run's time and id (equal before and after a change that keeps the output)")
    wh.add_argument("name", nargs="?", help="create-login: the login's name")
    wh.add_argument("--role", help="create-login: smarketing_bi, smarketing_marketing or smarketing_loader; the"
                                   " password comes from SMARKETING_NEW_LOGIN_PASSWORD")
    wh.add_argument("--admin", action="store_true",
                    help="psql: as the server's superuser instead of the pipeline's login smarketing_owner")
    wh.set_defaults(func=_warehouse)

    check = sub.add_parser("config", help="check the files in config/",
                           description="Validate every file in config/ (unknown keys, types, values).")
    check.add_argument("action", choices=["check"])
    check.set_defaults(func=_config)

    mig = sub.add_parser("migrate", help="apply pending warehouse migrations")
    mig.set_defaults(func=_migrate)

    fakes = sub.add_parser("fakes", help="fake HubSpot, Salesforce and Mailchimp APIs serving the demo dataset")
    fakes.add_argument("action", choices=["serve"])
    fakes.add_argument("--seed", type=int, default=7)
    fakes.add_argument("--people", type=int, default=120)
    fakes.add_argument("--hubspot-port", type=int, default=0)
    fakes.add_argument("--salesforce-port", type=int, default=0)
    fakes.add_argument("--mailchimp-port", type=int, default=0)
    fakes.set_defaults(func=_fakes)

    gen = sub.add_parser("generate", help="write the ground truth of the seeded demo dataset")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--people", type=int, default=120, help="population size (the scale)")
    gen.add_argument("--out", required=True, help="JSON file to write")
    gen.set_defaults(func=_generate)

    score = sub.add_parser("identity-score", help="precision and recall of identity resolution on generated data")
    score.add_argument("--profile", choices=("default", "hard"), default="default",
                       help="default: the demo world; hard: namesakes, nicknames, personal addresses, one side only")
    score.add_argument("--scale", type=_positive_scale, default=1.0,
                       help="times the profile's population (default: 120 people, hard: 1,000)")
    score.add_argument("--seed", type=int, default=7)
    score.set_defaults(func=_identity_score)

    ident = sub.add_parser("identity", help="identity resolution: the pairs it left to a person",
                           description="List the pairs of records identity resolution could not decide"
                                       " (core.identity_review), or record a decision about two records.")
    ident_sub = ident.add_subparsers(dest="action", required=True)
    review = ident_sub.add_parser("review", help="list the undecided pairs, or decide one (--same/--different)",
                                  description="Without options, list the pairs waiting for a decision, strongest"
                                              " evidence first. With --same or --different, record a decision;"
                                              " it wins in every later merge, full refreshes included.")
    choice = review.add_mutually_exclusive_group()
    choice.add_argument("--same", nargs=2, metavar=("RECORD", "RECORD"),
                        help="the two records are one person (a record is source:entity:id as listed)")
    choice.add_argument("--different", nargs=2, metavar=("RECORD", "RECORD"), help="the two are two people")
    choice.add_argument("--undo", nargs=2, metavar=("RECORD", "RECORD"),
                        help="forget the decision about the two; the next merge matches them again")
    review.add_argument("--note", help="why, for the record")
    review.add_argument("--by", help="who decided (default: the login name)")
    review.add_argument("--limit", type=_positive, default=20, help="pairs to list (default 20)")
    ident.set_defaults(func=_identity)

    files = sub.add_parser("files", help="the file drops of config/file_drops.yaml",
                           description="See what the next run does with each file, load a drop's files again, or"
                                       " lift the hold on the addresses of a rejected file given up for good.")
    files.add_argument("action", choices=["status", "reload", "release"])
    files.add_argument("drop", nargs="?", help="a drop's name (status: default every drop)")
    files.add_argument("file", nargs="?", help="release: the rejected file whose held addresses to let go")
    files.set_defaults(func=_files)

    report = sub.add_parser("report", help="write the KPI report (one HTML page) of the published marts",
                            description="Write the KPI report of the marts as published: one self-contained HTML page"
                            " (charts inlined, nothing fetched) that opens offline, on a phone and as an attachment.")
    report.add_argument("--as-of", type=date.fromisoformat,
                        help="the marts' as-of date, to be sure the report is of that day (default: theirs)")
    report.add_argument("--out", help="file to write, - for standard output (default: reports/kpis_<as_of>.html in"
                        " SMARKETING_REPORT_DIR)")
    report.set_defaults(func=_report)

    lists = sub.add_parser("lists", help="nurture lists for marketing",
                           description="Pull a nurture list, or suppress an address on every list.")
    lists_sub = lists.add_subparsers(dest="action", required=True)
    pull = lists_sub.add_parser("pull", help="write a program's list (the latest run unless --as-of)",
                                description="Write a program's members, suppression applied, as CSV or JSON.")
    pull.add_argument("program", help="program name from config/nurture.yaml")
    pull.add_argument("--format", choices=["csv", "json"], default="csv")
    pull.add_argument("--out", help="file to write, - for standard output (the default)")
    pull.add_argument("--as-of", type=date.fromisoformat, help="the run's as-of date (default: the latest)")
    push = lists_sub.add_parser(
        "push", help="send a program's list to its platforms now, or say what would change (--dry-run)",
        description="Bring the program's lists on HubSpot, Mailchimp and Salesforce (as config/nurture.yaml names"
        " them) up to its current members, sending only who joined and who left, suppression as the sources and"
        " `lists suppress` say now; with --dry-run, print per platform how many would be added and removed, and"
        " change nothing (not even a missing list is made).")
    push.add_argument("program", help="program name from config/nurture.yaml")
    push.add_argument("--dry-run", action="store_true", help="change nothing; print what a push would do")
    suppress = lists_sub.add_parser("suppress", help="keep an address off every list, whatever the sources say")
    suppress.add_argument("email")
    suppress.add_argument("--reason", required=True, help="why, for the record (e.g. 'asked by phone')")
    lists.set_defaults(func=_lists)

    args = parser.parse_args(argv)
    args.psql_args = psql_args
    from sqlalchemy.exc import OperationalError

    from smarketing.config import WarehouseUnavailable

    try:
        return args.func(args)
    except WarehouseUnavailable as exc:  # not running, nor configured: nothing to reach
        print(f"smarketing: {exc}", file=sys.stderr)
        return 3
    except RuntimeError as exc:  # ours say what was wrong and what to do; a traceback adds nothing
        print(f"smarketing: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the server's own words name host and port, never a password
        reason = str(exc.orig or exc).strip().splitlines()[0]
        print(f"smarketing: cannot reach the warehouse: {reason}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # `smarketing lists pull x | head`: the reader has what it wanted
        try:  # nothing more reaches the closed pipe, not even at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except KeyboardInterrupt:
        print("smarketing: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
