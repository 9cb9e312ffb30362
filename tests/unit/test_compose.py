"""docker-compose.yaml follows the official Airflow 3 structure and commits no secret.

No Docker engine runs here, so the file is checked by structure; the same processes run for real
in tests/e2e (make test-e2e).
"""

import re

import yaml

from smarketing.config import PATHS

TEXT = (PATHS.root / "docker-compose.yaml").read_text()
COMPOSE = yaml.safe_load(TEXT)
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
           "airflow-init")


def test_it_has_the_official_services_plus_the_warehouse_and_bi():
    assert set(COMPOSE["services"]) == {*AIRFLOW, "postgres", "redis", "warehouse", "metabase"}
    assert "x-airflow-common: &airflow-common" in TEXT
    assert all(f"  {name}:\n    <<: *airflow-common" in TEXT for name in AIRFLOW)
    assert COMPOSE["services"]["metabase"]["profiles"] == ["bi"]


def test_long_running_services_have_health_checks_and_airflow_waits_for_them():
    for name, service in COMPOSE["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service, name
    common = COMPOSE["x-airflow-common"]
    assert common["depends_on"]["warehouse"] == {"condition": "service_healthy"}
    assert common["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_image_is_built_from_the_pinned_lock_not_extra_requirements():
    assert COMPOSE["x-airflow-common"]["build"] == "."
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in TEXT
    dockerfile = (PATHS.root / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.11$", dockerfile, re.M)
    assert "pip install --no-cache-dir -r /opt/smarketing/requirements.lock" in dockerfile


def test_connections_come_from_the_environment_and_no_secret_is_committed():
    env = COMPOSE["x-airflow-common"]["environment"]
    for conn in ("AIRFLOW_CONN_SMARKETING_WAREHOUSE", "AIRFLOW_CONN_HUBSPOT_DEFAULT",
                 "AIRFLOW_CONN_SALESFORCE_DEFAULT"):
        assert env[conn] == f"${{{conn}}}"
    for service in COMPOSE["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|FERNET|KEY", key) and isinstance(value, str):
                assert value.startswith("${"), f"{key} is set in the file"
    assert not re.search(r"(password|secret|token)\s*[:=]\s*['\"]?[A-Za-z0-9]{8,}", TEXT, re.I)
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (PATHS.root / ".env.example").read_text(), re.M))
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", TEXT)) - {"HOSTNAME"}  # HOSTNAME: the container's own
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_the_warehouse_is_published_on_the_host_only():
    for port in COMPOSE["services"]["warehouse"].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port
    assert "ports" not in COMPOSE["services"]["postgres"]


def test_the_pipeline_connects_as_its_owner_and_only_the_warehouse_holds_the_admin_password():
    example = (PATHS.root / ".env.example").read_text()
    (conn,) = re.findall(r"^AIRFLOW_CONN_SMARKETING_WAREHOUSE=(.*)$", example, re.M)
    assert conn.startswith("postgresql://smarketing_owner:")
    warehouse = COMPOSE["services"]["warehouse"]
    assert "./docker/warehouse-init.sh:/docker-entrypoint-initdb.d/10-smarketing.sh:ro" in warehouse["volumes"]
    assert "./sql/admin/bootstrap.sql:/smarketing/bootstrap.sql:ro" in warehouse["volumes"]
    airflow_env = COMPOSE["x-airflow-common"]["environment"]
    assert not any("WAREHOUSE_ADMIN_PASSWORD" in str(v) for v in airflow_env.values())
    assert "create-login" not in TEXT  # logins are made by the warehouse's own init, as its superuser


def test_mounted_folders_are_handed_to_the_airflow_user():
    init = " ".join(COMPOSE["services"]["airflow-init"]["command"])
    assert 'chown -R "$${AIRFLOW_UID:-50000}:0" /opt/airflow/logs /opt/airflow/exports' in TEXT
    assert "mkdir -p /opt/airflow/logs /opt/airflow/exports" in init


def test_the_development_auth_manager_is_named_and_replaceable():
    env = COMPOSE["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].startswith("${AIRFLOW__CORE__AUTH_MANAGER:-")
    assert "FabAuthManager" in (PATHS.root / "docs" / "operations.md").read_text()


def test_airflow_containers_get_the_connection_but_no_warehouse_password():
    assert all("env_file" not in service for service in COMPOSE["services"].values())
    assert "env_file" not in COMPOSE["x-airflow-common"]
    for name in AIRFLOW:
        env = " ".join(str(v) for v in COMPOSE["services"][name].get("environment", {}).values())
        for secret in ("WAREHOUSE_ADMIN_PASSWORD", "WAREHOUSE_OWNER_PASSWORD", "METABASE_WAREHOUSE_PASSWORD"):
            assert secret not in env, (name, secret)
    for service in COMPOSE["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_the_image_installs_the_runtime_lock_without_test_tools():
    def pins(name):
        lines = (PATHS.root / name).read_text().splitlines()
        return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines if "==" in line}

    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {"apache-airflow", "great-expectations", "pandas", "sqlalchemy", "psycopg"} <= runtime
    assert {"pytest", "hypothesis", "ruff", "mypy"} <= dev
    assert not runtime & dev
    assert "-r requirements.lock" in (PATHS.root / "requirements-dev.lock").read_text().splitlines()
    assert "requirements-dev" not in (PATHS.root / "Dockerfile").read_text()


def test_the_commit_hooks_run_what_make_lint_runs():
    hooks = yaml.safe_load((PATHS.root / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    entries = {hook["entry"].split()[0].removeprefix(".venv/bin/") for hook in hooks}
    makefile = (PATHS.root / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    linted = {line.strip().split()[0].removeprefix("$(BIN)/") for line in recipe.splitlines()[1:]}
    assert entries == linted == {"ruff", "mypy", "sqlfluff"}
    assert "make lint" in (PATHS.root / ".ci" / "run").read_text()
