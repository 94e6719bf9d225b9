"""docker-compose.yaml is valid and complete, checked with `docker-compose config` (no Docker engine needed).

deploy/ci-setup.sh installs Debian's docker-compose. Without it the tests skip locally, but fail in CI (CI set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DOCS = REPO / "docs" / "deployment.md"

# The services; docs/deployment.md must name them too (its "Services" table).
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "minio",
    "minio-init",
    "mail",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
ONE_SHOT = {"minio-init", "airflow-init"}
AIRFLOW_SERVICES = {s for s in REQUIRED_SERVICES if s.startswith("airflow-")}


def _compose_variables() -> set[str]:
    """Variables interpolated in docker-compose.yaml (``$${X}`` is an escape, not a variable)."""
    return set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", COMPOSE.read_text()))


def _compose_cmd() -> list[str]:
    """docker-compose (v1, Debian) or the `docker compose` v2 plugin; skip locally, fail in CI when neither."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    message = "neither docker-compose nor the docker compose plugin is installed: run deploy/ci-setup.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _compose_config(env_file: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # Only the env file provides variables: strip any from the caller's shell that the compose file uses.
    used = set(_compose_variables())
    env = {k: v for k, v in os.environ.items() if k not in used}
    env.update(extra_env or {})
    return subprocess.run(
        [*_compose_cmd(), "--project-directory", str(REPO), "-f", str(COMPOSE), "--env-file", str(env_file),
         "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    proc = _compose_config(ENV_EXAMPLE)
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
    return yaml.safe_load(proc.stdout)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # compose v2 may print KEY=VALUE lists
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_config_has_every_service(config: dict[str, Any]) -> None:
    assert REQUIRED_SERVICES <= set(config["services"])


def test_docs_name_only_existing_services(config: dict[str, Any]) -> None:
    """Every service in docs/deployment.md's Services table exists, and every required one is documented."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Services", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\|\s*`([a-z0-9-]+)`", section, flags=re.M))
    assert named, "no service table in docs/deployment.md"
    assert named <= set(config["services"]), named - set(config["services"])
    assert REQUIRED_SERVICES <= named, REQUIRED_SERVICES - named


def test_health_checks(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_named_volumes_for_state(config: dict[str, Any]) -> None:
    declared = set(config.get("volumes") or {})
    for name in ("postgres", "redis", "minio"):
        mounts = config["services"][name].get("volumes") or []
        sources = {m["source"] if isinstance(m, dict) else m.split(":", 1)[0] for m in mounts}
        assert sources & declared, f"{name} keeps its data in no named volume"
    for name, service in config["services"].items():
        for mount in service.get("volumes") or []:
            if isinstance(mount, dict) and mount.get("type") == "volume":
                assert mount["source"] in declared, f"{name}: undeclared volume {mount['source']}"


def test_airflow_runs_celery_on_postgres_and_redis(config: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = _env(config["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        meta = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        domain = env["AWARD_DB_URL"]
        assert meta.startswith("postgresql+psycopg2://") and meta.endswith("@postgres:5432/airflow"), name
        assert domain.startswith("postgresql+psycopg2://") and domain.endswith("@postgres:5432/award"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379/" in env[
            "AIRFLOW__CELERY__BROKER_URL"
        ], name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        # Every component must share the secrets that sign task tokens and encrypt connections.
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
            assert env[key], f"{name}: {key} empty"
        assert env["AWARD_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AWARD_BLOB_URL"].startswith("s3://") and env["AWARD_SHARED_URL"].startswith("s3://")


def test_start_order(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["airflow-init"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_worker_can_scale(config: dict[str, Any]) -> None:
    worker = config["services"]["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] in (["celery", "worker"], "celery worker")


def test_connections_parse_as_airflow_connections(config: dict[str, Any]) -> None:
    env = _env(config["services"]["airflow-worker"])
    conns = {k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    # The connection ids the DAGs use (dags/pipeline_common.py).
    assert {"AIRFLOW_CONN_SMTP_DEFAULT", "AIRFLOW_CONN_AWARD_IMAP", "AIRFLOW_CONN_AWARD_S3"} <= set(conns)
    for key, value in conns.items():
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{key} is not JSON after interpolation: {exc}")
    script = (
        "import json, sys\n"
        "from airflow.models.connection import Connection\n"
        "out = {}\n"
        "for key, value in json.load(sys.stdin).items():\n"
        "    c = Connection.from_json(value, conn_id=key[len('AIRFLOW_CONN_'):].lower())\n"
        "    out[c.conn_id] = {'type': c.conn_type, 'host': c.host, 'port': c.port, 'extra': c.extra_dejson}\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(conns), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["smtp_default"]["type"] == "smtp" and parsed["smtp_default"]["host"] == "mail"
    assert parsed["award_imap"]["type"] == "imap" and parsed["award_imap"]["extra"]["use_ssl"] is False
    assert parsed["award_s3"]["type"] == "aws"
    assert parsed["award_s3"]["extra"]["endpoint_url"] == "http://minio:9000"
    assert parsed["award_db"]["type"] == "postgres"


def test_secrets_only_from_env_file(tmp_path: Path) -> None:
    """Without the .env secrets, compose refuses to render; the committed files hold no secret value."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    proc = _compose_config(empty)
    assert proc.returncode != 0
    assert "in .env" in proc.stderr, proc.stderr
    text = COMPOSE.read_text()
    for key in ("PASSWORD", "SECRET", "FERNET_KEY"):
        for line in text.splitlines():
            m = re.match(rf"\s*[A-Z0-9_]*{key}[A-Z0-9_]*:\s*(.*)$", line)
            if m and not line.split(":", 1)[0].strip().endswith("_FILE"):
                assert m.group(1).startswith("${"), f"literal secret in docker-compose.yaml: {line.strip()}"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0, ".env is not git-ignored"


def test_env_example_documents_every_variable() -> None:
    used = set(_compose_variables())
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_pools_file_and_init() -> None:
    pools = json.loads((REPO / "deploy" / "pools.json").read_text())
    assert {k: v["slots"] for k, v in pools.items()} == {"smtp": 4, "imap": 1}
    assert all(isinstance(v["description"], str) and v["description"] for v in pools.values())
    init = (REPO / "deploy" / "airflow-init.sh").read_text()
    assert "airflow pools import" in init and "pools.json" in init
    assert "airflow db migrate" in init and "award db upgrade" in init


def test_scripts_parse() -> None:
    for script in sorted((REPO / "deploy").rglob("*.sh")):
        shell = "sh" if script.read_text().startswith("#!/bin/sh") else "bash"
        proc = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


def test_image_matches_lock() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", dockerfile, flags=re.M)
    assert base, "deploy/Dockerfile does not build FROM apache/airflow:<version>-python<version>"
    locked = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.lock").read_text(), flags=re.M)
    assert locked and base.group(1) == locked.group(1)
    assert base.group(2) == "3.11"
    assert "requirements.lock" in dockerfile and "libreoffice" in dockerfile
