"""Desk benchmark (`make bench`): the overview and one application's page over a season of 1,000 applications.

Set-up (not timed): a SQLite store with 1,000 applications in many states through the state machine, each with an
inbound item, two files, checks, mails, opinions, objections and publicity entries (tests/desk/seed.py). Then the
desk's FastAPI app (plugins/desk/app.py) is called in process through Starlette's TestClient, the way the
api-server calls it, with the authentication dependency replaced by a fixed user (the browser test logs in for
real): GET / (overview: counts by state x category x unit, key dates, corrections, windows, objections, mails
not delivered; Airflow's side stubbed) and GET /applications/<no> for the application with the longest history,
each 30 times after 3 warm-ups. Baseline, in the same run: the naive way to know where 1,000 applications stand,
loading every application with its applicant through the ORM and counting in Python. Targets: p95 < 300 ms each.

Run: ``.venv/bin/python bench/desk_bench.py [--count 1000]``. A missed target prints ``TARGET MISSED: ...`` and
the script still exits 0.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins"):
    sys.path.insert(0, str(path))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "desk-bench")
TARGET_MS = 300.0


class _User:
    def get_id(self) -> str:
        return "bench"

    def get_name(self) -> str:
        return "bench"


class _NoAirflow:
    def pending_decisions(self, limit: int = 50) -> list[Any]:
        return []

    def failed_tasks(self, since: timedelta = timedelta(hours=24), limit: int = 50) -> list[Any]:
        return []


def _times(fn, n: int = 30, warm: int = 3) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    os.environ["AIRFLOW_HOME"] = str(tmp / "airflow")
    from airflow.api_fastapi.core_api.security import get_user
    from desk.app import create_app
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select
    from sqlalchemy.orm import selectinload

    from award.config import load_season
    from award.runtime import Runtime
    from award.storage.blobs import LocalBlobStore
    from award.storage.shared import LocalStorage
    from award.store import session_scope
    from award.store.db import migrate
    from award.store.models import Application, AuditEvent
    from tests.desk.seed import seed_season

    url = f"sqlite:///{tmp / 'award.db'}"
    migrate(url)
    season = load_season()
    blobs = LocalBlobStore(tmp / "blobs")
    t0 = time.perf_counter()
    with session_scope(url) as session:
        seeded = seed_season(session, season, blobs, count=args.count)
    with session_scope(url) as session:
        busiest = session.execute(
            select(Application.submission_no, func.count(AuditEvent.id))
            .join(AuditEvent, (AuditEvent.entity_type == "application") & (AuditEvent.entity_id == Application.id))
            .group_by(Application.submission_no).order_by(func.count(AuditEvent.id).desc()).limit(1)).one()
    print(f"set-up: {len(seeded.numbers)} applications seeded in {time.perf_counter() - t0:.1f} s; "
          f"application page for {busiest[0]} ({busiest[1]} audit events)")
    rt = Runtime(season=season, db_url=url, blobs=blobs, shared=LocalStorage(tmp / "shared"))
    app = create_app(lambda: rt, _NoAirflow())
    app.dependency_overrides[get_user] = _User
    client = TestClient(app)

    def overview() -> None:
        r = client.get("/")
        assert r.status_code == 200 and f'id="total">{args.count}<' in r.text, r.status_code

    def application() -> None:
        r = client.get(f"/applications/{busiest[0]}")
        assert r.status_code == 200, r.status_code

    def application_list() -> None:
        r = client.get("/applications", params={"state": "incomplete"})
        assert r.status_code == 200, r.status_code

    def baseline() -> None:
        with session_scope(url) as session:
            apps = session.scalars(select(Application).where(Application.season == season.season_id)
                                   .options(selectinload(Application.applicant))).all()
            counts: dict[tuple[str, str, str | None], int] = {}
            for a in apps:
                key = (a.state, a.category, a.city)
                counts[key] = counts.get(key, 0) + 1
            assert sum(counts.values()) == args.count

    cpu0 = time.process_time()
    results = {name: _times(fn) for name, fn in (("overview", overview), ("application", application),
                                                 ("list (filtered)", application_list), ("baseline", baseline))}
    cpu = time.process_time() - cpu0
    base = statistics.median(results["baseline"])
    for name, values in results.items():
        med, p95 = statistics.median(values), _p95(values)
        ratio = "" if name == "baseline" else f", {med / base:.1f}x the baseline"
        print(f"{name}: median {med:.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms{ratio}")
    print("baseline = load every application with its applicant through the ORM and count in Python")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB; CPU {cpu:.1f} s for {sum(len(v) for v in results.values())} requests")
    for name in ("overview", "application"):
        if _p95(results[name]) >= TARGET_MS:
            print(f"TARGET MISSED: {name} p95 {_p95(results[name]):.0f} ms >= {TARGET_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
