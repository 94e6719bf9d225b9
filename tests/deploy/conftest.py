"""A throw-away Airflow Celery deployment on the machine's PostgreSQL and Redis, without Docker.

``celery_cluster`` creates two unique PostgreSQL databases (Airflow metadata, domain store), migrates them,
imports deploy/pools.json, and starts the api-server, scheduler, dag-processor, triggerer and one Celery
worker as separate process groups. Teardown kills those process groups and drops the databases.

Nothing runs on the wall clock: the scheduler creates no scheduled or asset-triggered runs
(``[scheduler] use_job_schedule = False``), every DAG stays paused until the test unpauses it, and the test starts
each run itself over the REST API (``CeleryCluster.trigger``). The dag-processor parses each file once (the files do
not change during the run), which leaves the machine's two cores to the tasks.

The domain side runs as in production: the worker and scheduler get AWARD_DB_URL (the PostgreSQL domain store),
AWARD_DATA_DIR, AWARD_MAILDIR (the embedded Maildir), AWARD_SHARED_URL and AWARD_BLOB_URL (local folders under the
deployment's home), AWARD_FAKE_NOW (inside the example season's application period) and smtp_default (an SMTP
catcher on loopback).

Where the services live can be changed with CQA_TEST_PG_URL (a libpq URL of a superuser connection to the
``postgres`` database) and CQA_TEST_REDIS_URL (a Redis URL with a dedicated db number).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import SmtpCatcher, free_port, smtp_catcher

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PROBE_DAGS = Path(__file__).resolve().parent / "probe_dags"
POOLS_FILE = REPO / "deploy" / "pools.json"

PG_URL = os.environ.get("CQA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CQA_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
# Inside the example season's application period (2023-04-10 .. 2023-05-25 17:00), a Saturday.
FAKE_NOW = "2023-05-20T10:00:00+08:00"
# The office's Airflow account: it starts the runs and answers the leadership approval over the REST API.
API_USER = "办公室"

WORKER_IDENTITY_MODULE = '''"""Worker identity for the distributed-run test: what task instances record as their hostname."""
import os


def hostname() -> str:
    return os.environ["CQA_TEST_WORKER_HOSTNAME"]
'''


def _pg_url_for(db: str, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URL of database ``db`` on the server of PG_URL."""
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(drivername=driver, database=db).render_as_string(hide_password=False)


def _admin_execute(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_URL)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _preflight() -> None:
    """Fail (not skip) with a clear message when PostgreSQL or Redis is not reachable."""
    import psycopg2
    import redis

    try:
        psycopg2.connect(PG_URL, connect_timeout=5).close()
    except psycopg2.Error as exc:
        pytest.fail(f"PostgreSQL at CQA_TEST_PG_URL={PG_URL} is not reachable: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at CQA_TEST_REDIS_URL={REDIS_URL} is not reachable: {exc}")


NATIONAL_MOBILE = "13900000000"


def _season_with_mobile() -> str:
    """The shipped season with an example national contact mobile (the notice gives only a landline)."""
    import yaml

    from award.config import DEFAULT_SEASON_FILE

    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    data["national"]["contact_mobile"] = NATIONAL_MOBILE
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@dataclass
class CeleryCluster:
    """A running Celery deployment: its environment, databases and processes."""

    home: Path
    env: dict[str, str]
    meta_db: str
    domain_db: str
    queue: str
    worker_hostname: str
    api_port: int
    smtp: SmtpCatcher
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str | None = None

    @property
    def meta_url(self) -> str:
        return _pg_url_for(self.meta_db)

    @property
    def domain_url(self) -> str:
        return _pg_url_for(self.domain_db)

    @property
    def award_dir(self) -> Path:
        """The deployment's AWARD_DATA_DIR (maildir/, shared/, blobs/ below it)."""
        return Path(self.env["AWARD_DATA_DIR"])

    @contextlib.contextmanager
    def domain_env(self) -> Iterator[None]:
        """Apply the deployment's AWARD_* variables to this process (e.g. AWARD_FAKE_NOW for enqueue), then restore."""
        saved = {k: v for k, v in os.environ.items() if k.startswith("AWARD_")}
        try:
            for key in saved:
                os.environ.pop(key)
            os.environ.update({k: v for k, v in self.env.items() if k.startswith("AWARD_")})
            yield
        finally:
            for key in [k for k in os.environ if k.startswith("AWARD_")]:
                os.environ.pop(key)
            os.environ.update(saved)

    def airflow(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command in the deployment's environment."""
        proc = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def rest(self, method: str, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        """Call the api-server's REST API as the office user (``/api/v2/...``); return the JSON answer."""
        import httpx

        if self._token is None:
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            resp = httpx.post(f"{self.base_url}/auth/token", timeout=60,
                              json={"username": API_USER, "password": passwords[API_USER]})
            assert resp.status_code == 201, resp.text
            self._token = resp.json()["access_token"]
        resp = httpx.request(method, f"{self.base_url}{path}", json=body, timeout=60,
                             headers={"Authorization": f"Bearer {self._token}"})
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def unpause(self, dag_id: str) -> None:
        """Unpause one DAG (no scheduled run follows: the deployment's job schedule is off)."""
        answer = self.rest("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert answer["is_paused"] is False, answer

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and start one manual run of it with ``conf``; return its run id."""
        self.unpause(dag_id)
        run_id = f"deploy-test-{dag_id}-{secrets.token_hex(3)}"
        answer = self.rest("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                           {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}})
        assert answer["dag_run_id"] == run_id, answer
        return run_id

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        """Start a long-running component in its own session (process group), logging to home/<name>.log."""
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process group
        self.procs[name] = subprocess.Popen(
            args,
            env={**self.env, **(extra_env or {})},
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_done(self, name: str, timeout: float) -> None:
        """Wait for the one-off command started as ``name`` to succeed (it then no longer counts as a component)."""
        try:
            code = self.procs[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} did not finish within {timeout}s:\n{self.log_tail(name)}") from None
        assert code == 0, f"{name} failed ({code}):\n{self.log_tail(name)}"
        del self.procs[name]

    def assert_alive(self) -> None:
        """Raise with the component's log tail when one of the processes has died."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def logs(self) -> str:
        """Every component's log tail, for failure messages."""
        return "\n".join(f"----- {name}.log -----\n{self.log_tail(name)}" for name in self.procs)

    def stop(self) -> None:
        """Terminate every process group we started, then kill what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10  # then the group is killed: nothing of this deployment is kept
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            # The group may outlive its leader (forked task supervisors): always sweep it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def wait_http(self, url: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        return
            time.sleep(1)
        raise AssertionError(f"{url} did not answer within {timeout}s\n{self.logs()}")

    def query(self, sql: str, url: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """Rows of a SQL query on the metadata database (or another URL) as dicts."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url or self.meta_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return [dict(row._mapping) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        """Wait until the dag-processor has serialised every DAG in ``dag_ids``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            rows = self.query(
                "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id WHERE d.dag_id = ANY(:ids)",
                ids=dag_ids,
            )
            if {r["dag_id"] for r in rows} >= set(dag_ids):
                return
            time.sleep(2)
        errors = self.query("SELECT filename, stacktrace FROM import_error")
        raise AssertionError(f"DAGs {dag_ids} not parsed within {timeout}s; import errors: {errors}\n{self.logs()}")

    def wait_for_runs(self, runs: list[tuple[str, str]], timeout: float = 420) -> dict[tuple[str, str], str]:
        """Poll dag_run states until every (dag_id, run_id) is finished; return their states."""
        deadline = time.monotonic() + timeout
        states: dict[tuple[str, str], str] = {}
        while time.monotonic() < deadline:
            self.assert_alive()
            states = {}
            for dag_id, run_id in runs:
                rows = self.query(
                    "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id
                )
                states[(dag_id, run_id)] = rows[0]["state"] if rows else "missing"
            if all(s in ("success", "failed") for s in states.values()):
                return states
            time.sleep(2)
        tis = self.query("SELECT dag_id, task_id, map_index, state, hostname, queue FROM task_instance")
        raise AssertionError(f"runs not finished within {timeout}s: {states}\ntask instances: {tis}\n{self.logs()}")


    def asset_events(self, source_dag_id: str, source_run_id: str) -> list[dict[str, Any]]:
        """The asset events the run ``source_run_id`` of ``source_dag_id`` emitted (asset id, name and URI)."""
        return self.query(
            "SELECT a.id AS asset_id, a.name, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id"
            " WHERE e.source_dag_id = :d AND e.source_run_id = :r",
            d=source_dag_id, r=source_run_id,
        )


@pytest.fixture(scope="module")
def celery_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryCluster]:
    """A migrated, running Celery deployment (see the module docstring); torn down after the module."""
    _preflight()
    import redis

    tag = secrets.token_hex(4)
    home = tmp_path_factory.mktemp("airflow-celery")
    meta_db, domain_db = f"cqa_af_meta_{tag}", f"cqa_award_{tag}"
    queue, worker_hostname = f"cqa-test-{tag}", f"cqa-celery-worker-{tag}"
    api_port = free_port()

    # The outbox DAG sends through smtp_default: a real SMTP server on loopback catches what it sends.
    smtp, smtp_controller = smtp_catcher()
    smtp_conn = {
        "conn_type": "smtp",
        "host": smtp.host,
        "port": smtp.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 10, "retry_limit": 1},
    }

    ident_dir = home / "worker_identity"
    ident_dir.mkdir()
    (ident_dir / "cqa_worker_identity.py").write_text(WORKER_IDENTITY_MODULE)

    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(REPO / "dags")},
        },
        {
            "name": "deploy-probe",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(PROBE_DAGS)},
        },
    ]
    award_dir = home / "award"
    award_dir.mkdir(parents=True, exist_ok=True)
    season_file = award_dir / "season.yaml"  # the shipped season plus the mobile the national mail's subject needs
    season_file.write_text(_season_with_mobile(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWARD_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _pg_url_for(meta_db),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _pg_url_for(meta_db, "postgresql"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # the office's account answers the leadership approval (recommendation) over the REST API
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # the files do not change while the test runs: parse each once, not every 30 s
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            # no scheduled and no asset-triggered runs: the test starts every run itself
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # an idle scheduler looks again after 0.25 s, not 1 s: each task starts sooner after the one before
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp_conn),
            "AWARD_DB_URL": _pg_url_for(domain_db),
            "AWARD_DATA_DIR": str(award_dir),
            "AWARD_MAILDIR": str(award_dir / "maildir"),
            "AWARD_MAIL_SOURCE": "maildir",
            "AWARD_SHARED_URL": str(award_dir / "shared"),
            "AWARD_BLOB_URL": str(award_dir / "blobs"),
            "AWARD_FAKE_NOW": FAKE_NOW,
            "AWARD_SEASON_FILE": str(season_file),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    cluster = CeleryCluster(
        home=home,
        env=env,
        meta_db=meta_db,
        domain_db=domain_db,
        queue=queue,
        worker_hostname=worker_hostname,
        api_port=api_port,
        smtp=smtp,
    )
    smtp_controller.start()
    _admin_execute(f'CREATE DATABASE "{meta_db}"')
    _admin_execute(f'CREATE DATABASE "{domain_db}"')
    try:
        # The metadata database migrates in a subprocess while the domain store migrates here (as
        # deploy/airflow-init.sh runs `award db upgrade`); the pools import runs while the components start.
        airflow = str(VENV_BIN / "airflow")
        cluster.start("db-migrate", [airflow, "db", "migrate"])
        from award.store.db import migrate

        migrate(cluster.domain_url)
        cluster.wait_done("db-migrate", timeout=300)
        cluster.start("pools-import", [airflow, "pools", "import", str(POOLS_FILE)])
        cluster.start("api-server", [airflow, "api-server", "--port", str(api_port), "--workers", "1"])
        cluster.start("scheduler", [airflow, "scheduler"])
        cluster.start("dag-processor", [airflow, "dag-processor"])
        cluster.start("triggerer", [airflow, "triggerer"])
        cluster.start(
            "celery-worker",
            [airflow, "celery", "worker", "--concurrency", "2", "--queues", queue,
             "--celery-hostname", f"{worker_hostname}@%h", "--skip-serve-logs"],
            extra_env={
                # Task instances record this as their hostname: only the Celery worker can produce it.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cqa_worker_identity.hostname",
                "CQA_TEST_WORKER_HOSTNAME": worker_hostname,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ident_dir), env.get("PYTHONPATH")])),
            },
        )
        cluster.wait_done("pools-import", timeout=180)
        cluster.wait_http(f"http://127.0.0.1:{api_port}/api/v2/monitor/health")
        yield cluster
    finally:
        cluster.stop()
        smtp_controller.stop()
        with contextlib.suppress(Exception):
            from award.store.db import get_engine

            get_engine(cluster.domain_url).dispose()
        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(match=f"*{queue}*"):
                client.delete(key)
        for db in (meta_db, domain_db):
            _admin_execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if os.environ.get("CQA_KEEP_CLUSTER_LOGS"):
            shutil.copytree(home, Path(os.environ["CQA_KEEP_CLUSTER_LOGS"]) / home.name, dirs_exist_ok=True)
