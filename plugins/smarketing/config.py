"""Settings: where things live and which warehouse to talk to.

The warehouse is the Airflow Connection ``smarketing_warehouse``. It is read from
``AIRFLOW_CONN_SMARKETING_WAREHOUSE`` (URI or JSON form, as Airflow accepts it), then
from Airflow's own connection store when running inside a task; when neither has it,
the embedded PostgreSQL server under the project folder is used if it is running (only
``smarketing warehouse start``, the demo and the tests start it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from smarketing.paths import PATHS, PROJECT_ROOT, ConfigError, Paths  # noqa: F401 - the names users import from here

WAREHOUSE_CONN_ID = "smarketing_warehouse"


def _env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def sqlalchemy_url(uri: str) -> str:
    """Normalise a postgres URI to the psycopg 3 SQLAlchemy dialect."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    scheme = uri.split("://", 1)[0] if "://" in uri else uri[:20]
    raise ConfigError(
        f"warehouse connection has scheme {scheme!r}; the warehouse must be PostgreSQL "
        "(postgres:// or postgresql://)"
    )


def with_database(url: str, database: str, driver: str | None = None) -> str:
    """``url`` pointing at another database (its query, such as ``passfile``, kept); ``driver``
    replaces the scheme (``postgresql`` for plain libpq, ``postgresql+psycopg2`` for Airflow)."""
    from sqlalchemy.engine import make_url

    changed = make_url(url).set(database=database)
    if driver:
        changed = changed.set(drivername=driver)
    return changed.render_as_string(hide_password=False)


def _uri_from_json(conn_id: str, raw: str) -> str:
    try:
        conn = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{_env_var(conn_id)} is neither a URI nor valid JSON: {exc}") from exc
    if not conn.get("host"):
        raise ConfigError(f"{_env_var(conn_id)} has no host; set it to postgresql://user:pass@host:5432/db")
    login = quote(conn.get("login") or "", safe="")
    password = quote(conn.get("password") or "", safe="")
    auth = f"{login}:{password}@" if password else (f"{login}@" if login else "")
    port = f":{conn['port']}" if conn.get("port") else ""
    database = conn.get("schema") or "postgres"
    return f"postgresql://{auth}{conn['host']}{port}/{database}"


def connection_uri(conn_id: str = WAREHOUSE_CONN_ID) -> str | None:
    """The configured URI for ``conn_id``, or None when the connection is not defined."""
    raw = os.environ.get(_env_var(conn_id), "").strip()
    if raw:
        return _uri_from_json(conn_id, raw) if raw.startswith("{") else raw
    try:  # inside an Airflow task, connections may live in the metadata DB or a secrets backend
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id).get_uri()
    except ImportError:
        return None
    except Exception:  # noqa: BLE001 - not defined, or not running inside a task: fall back
        return None


class WarehouseUnavailable(ConfigError):
    """No warehouse to reach: none configured and the embedded one is not running."""


def warehouse_url(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """SQLAlchemy URL of the warehouse: the configured connection, else the embedded server when
    it is running. Never starts a server: a deployment that lost its connection fails here, naming
    it, instead of quietly writing into a new local database."""
    uri = connection_uri(conn_id)
    if uri:
        return sqlalchemy_url(uri)
    from smarketing import embedded

    running = embedded.url(PATHS.warehouse_data)
    if running is None:
        raise WarehouseUnavailable(
            f"no warehouse: {_env_var(conn_id)} is not set (nor the connection '{conn_id}' in Airflow) and the"
            f" embedded warehouse in {PATHS.warehouse_data} is not running; set the connection, or for local"
            " use start it with `smarketing warehouse start`"
        )
    return running


@dataclass(frozen=True)
class ConnectionInfo:
    """The parts of an Airflow Connection a source client needs. ``repr`` hides the secret."""

    conn_id: str
    host: str
    login: str = ""
    password: str = field(default="", repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_var(self) -> str:
        return _env_var(self.conn_id)


def _from_uri(conn_id: str, uri: str) -> ConnectionInfo:
    parts = urlsplit(uri)
    scheme = parts.scheme.replace("-", "_")
    # Airflow URIs put the real scheme of an http(s) host in __extra__ or as the conn type itself
    host_scheme = "https" if scheme in ("https", "http_s") else ("http" if scheme == "http" else "https")
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    extra = dict(parse_qsl(parts.query))
    if "__extra__" in extra:
        extra = json.loads(extra["__extra__"])
    return ConnectionInfo(
        conn_id=conn_id,
        host=f"{host_scheme}://{netloc}{parts.path}".rstrip("/"),
        login=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        extra=extra,
    )


def get_connection(conn_id: str) -> ConnectionInfo:
    """An API connection from ``AIRFLOW_CONN_<ID>`` (JSON or URI) or Airflow's connection store,
    its secrets checked (``_checked``) and registered with Airflow's log masker."""
    return _checked(_read_connection(conn_id))


SECRET_EXTRAS = ("access_token", "refresh_token", "client_secret", "api_key", "token")


def _checked(info: ConnectionInfo) -> ConnectionInfo:
    """Refuse a secret holding whitespace or a control character: sent as a header it makes the
    HTTP library raise with the whole value in the message. Never names the value."""
    secrets = {"password": info.password, "login": info.login}
    secrets |= {f"extra.{k}": str(info.extra[k]) for k in SECRET_EXTRAS if info.extra.get(k)}
    for name, value in secrets.items():
        if value and any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
            raise ConfigError(f"connection '{info.conn_id}': its {name} holds whitespace or a control character"
                              f" (a line break copied with it?); set it again in {info.env_var} or the connection"
                              " store")
    mask_secrets(v for k, v in secrets.items() if v and k != "login")
    return info


def mask_secrets(values) -> None:
    """Have Airflow's task logs mask these values (a no-op outside Airflow)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        return
    for value in values:
        try:
            mask_secret(value)
        except Exception:  # noqa: BLE001 - masking is a second line of defence, never a reason to fail
            return


def _read_connection(conn_id: str) -> ConnectionInfo:
    raw = os.environ.get(_env_var(conn_id), "").strip()
    if raw.startswith("{"):
        try:
            conn = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{_env_var(conn_id)} is not valid JSON: {exc}") from exc
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra)
        host = conn.get("host") or ""
        if host and "://" not in host:
            host = f"https://{host}"
        if conn.get("port"):
            host = f"{host}:{conn['port']}"
        return ConnectionInfo(conn_id, host.rstrip("/"), conn.get("login") or "", conn.get("password") or "", extra)
    if raw:
        return _from_uri(conn_id, raw)
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except ImportError:
        conn = None
    except Exception:  # noqa: BLE001 - not defined, or not inside a task
        conn = None
    if conn is None:
        raise ConfigError(f"connection '{conn_id}' is not defined; set {_env_var(conn_id)} (JSON or URI form)")
    host = conn.host or ""
    if host and "://" not in host:
        host = f"https://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    return ConnectionInfo(conn_id, host.rstrip("/"), conn.login or "", conn.password or "", conn.extra_dejson or {})
