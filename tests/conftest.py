"""Test set-up: private AIRFLOW_HOME and data folder before anything imports Airflow; shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# One folder per process: each pytest-xdist worker gets its own Airflow metadata database and data folder.
_TMP = Path(tempfile.mkdtemp(prefix="award-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
ROOT = Path(__file__).resolve().parents[1]

os.environ["AIRFLOW_HOME"] = str(_TMP / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AWARD_DATA_DIR"] = str(_TMP / "data")
os.environ["AWARD_TASK_RETRIES"] = "0"  # dag.test() would otherwise wait through retry delays on a failure
os.environ.pop("AWARD_DB_URL", None)
os.environ.pop("AWARD_SEASON_FILE", None)
os.environ.pop("AWARD_DEMO_CLOCK", None)  # the demo clock is make run's only (see _no_demo_clock)
for path in (ROOT, ROOT / "dags", ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.append(str(path))

pytest_plugins = ["tests.servers", "tests.storefixtures", "tests.airflowfixtures", "tests.fixtures"]


@pytest.fixture(autouse=True)
def _no_demo_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo clock (``AWARD_DEMO_CLOCK``, make run only) never leaks into a test or from one test to the next."""
    monkeypatch.delenv("AWARD_DEMO_CLOCK", raising=False)


def _chunk_starts(count: int, workers: int) -> list[int]:
    """Where each worker's first tests start: pytest-xdist's worksteal scheduler splits the collection into
    contiguous chunks, evenly, in worker order (later it steals from the tails of the longest queues)."""
    starts, start, left = [], 0, count
    for i in range(workers):
        starts.append(start)
        size = left // (workers - i)
        start, left = start + size, left - size
    return starts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the long end-to-end tests (marked ``slow``) at once, each on its own worker, so that they overlap the
    rest of the suite instead of running one after the other as its tail: under pytest-xdist each slow test heads
    one worker's chunk (every worker computes the same order); in one process they simply come first."""
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or not slow:
        items[:] = slow + rest
        return
    starts = _chunk_starts(len(items), workers)
    slots: list[pytest.Item | None] = [None] * len(items)
    for k, item in enumerate(slow):
        slots[starts[k % workers] + k // workers] = item
    others = iter(rest)
    items[:] = [slot if slot is not None else next(others) for slot in slots]

# Hypothesis draws the same examples on every run (CI must not depend on luck); set HYPOTHESIS_PROFILE=explore
# to search with fresh random examples while developing.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
