"""Airflow fixtures (available to every test): a migrated metadata database once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Run ``airflow db migrate`` once in the test AIRFLOW_HOME (needed by dag.test())."""
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if not marker.exists():
        home.mkdir(parents=True, exist_ok=True)
        airflow = Path(sys.executable).with_name("airflow")
        subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
        marker.write_text("ok")
    return str(home)


def set_dag_environment(monkeypatch: pytest.MonkeyPatch, smtp_server: Any, db_url: str, tmp_path: Path) -> None:
    """What a DAG's tasks read under dag.test(): the store, local blobs and shared storage under ``tmp_path``, and
    the ``smtp_default`` connection pointing at the test's SMTP catcher."""
    monkeypatch.setenv("AWARD_DB_URL", db_url)
    monkeypatch.setenv("AWARD_BLOB_URL", str(tmp_path / "blobs"))
    monkeypatch.setenv("AWARD_SHARED_URL", str(tmp_path / "shared"))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
        "extra": {"disable_ssl": True, "disable_tls": True}}))


@pytest.fixture()
def dag_env(monkeypatch: pytest.MonkeyPatch, smtp_server: Any, sqlite_url: str, tmp_path: Path) -> str:
    """:func:`set_dag_environment` on a migrated SQLite store; returns the store URL."""
    set_dag_environment(monkeypatch, smtp_server, sqlite_url, tmp_path)
    return sqlite_url
