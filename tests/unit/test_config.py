import json

import pytest

from smarketing.config import ConfigError, connection_uri, sqlalchemy_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/wh", "postgresql+psycopg://u:p@db:5432/wh"),
        ("postgresql://u@db/wh", "postgresql+psycopg://u@db/wh"),
        ("postgresql+psycopg2://u@db/wh", "postgresql+psycopg://u@db/wh"),
    ],
)
def test_postgres_uris_use_the_psycopg3_dialect(given, expected):
    assert sqlalchemy_url(given) == expected


def test_a_non_postgres_warehouse_is_refused_with_the_scheme_named():
    with pytest.raises(ConfigError, match="'mysql'"):
        sqlalchemy_url("mysql://u@db/wh")


def test_connection_from_env_uri(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", "postgresql://loader:s3cret@wh.internal:5433/dwh")
    assert connection_uri() == "postgresql://loader:s3cret@wh.internal:5433/dwh"


def test_connection_from_env_json_quotes_credentials(monkeypatch):
    conn = {"conn_type": "postgres", "host": "wh.internal", "login": "loader", "password": "p@ss/word",
            "port": 5433, "schema": "dwh"}
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", json.dumps(conn))
    assert connection_uri() == "postgresql://loader:p%40ss%2Fword@wh.internal:5433/dwh"


def test_json_connection_without_host_says_what_to_set(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", json.dumps({"conn_type": "postgres"}))
    with pytest.raises(ConfigError, match="has no host"):
        connection_uri()


def test_without_a_connection_nothing_starts_a_server_and_the_error_says_what_to_set(monkeypatch, tmp_path, capsys):
    from smarketing import cli
    from smarketing.config import warehouse_url

    monkeypatch.delenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", raising=False)
    monkeypatch.setenv("SMARKETING_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_SMARKETING_WAREHOUSE is not set.*smarketing warehouse start"):
        warehouse_url()
    assert cli.main(["migrate"]) != 0
    assert "AIRFLOW_CONN_SMARKETING_WAREHOUSE" in capsys.readouterr().err
    assert not (tmp_path / "warehouse").exists(), "no server was set up"
