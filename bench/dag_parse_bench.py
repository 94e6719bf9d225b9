"""How long the dags/ folder takes to parse, against a raw baseline (an empty DAG file) in the same run."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 5

PARSE = textwrap.dedent(
    """
    import os, sys, time
    sys.path[:0] = [{dags!r}, {plugins!r}]
    t0 = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    t1 = time.perf_counter()
    bag = DagBag(dag_folder={folder!r})
    t2 = time.perf_counter()
    assert not bag.import_errors, bag.import_errors
    print("RESULT", len(bag.dags), t1 - t0, t2 - t1)
    """
)


def run(folder: Path, env: dict[str, str]) -> tuple[int, float]:
    code = PARSE.format(dags=str(ROOT / "dags"), plugins=str(ROOT / "plugins"), folder=str(folder))
    best = float("inf")
    count = 0
    for _ in range(REPEAT):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
        _tag, n, _imp, parse = line.split()
        count, best = int(n), min(best, float(parse))
    return count, best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AIRFLOW_HOME": tmp, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
        base = Path(tmp) / "baseline"
        base.mkdir()
        (base / "empty_dag.py").write_text(
            "import pendulum\nfrom airflow.sdk import dag, task\n\n"
            "@dag(schedule=None, start_date=pendulum.datetime(2023, 1, 1, tz='Asia/Shanghai'))\n"
            "def empty():\n    @task\n    def t():\n        pass\n    t()\n\nempty()\n"
        )
        n_base, t_base = run(base, env)
        n, t = run(ROOT / "dags", env)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"dags/ folder: {n} DAGs parsed in {t * 1000:.0f} ms (best of {REPEAT}, after importing Airflow)")
    print(f"raw baseline: one empty DAG parsed in {t_base * 1000:.0f} ms")
    print(f"ratio to baseline: {t / t_base:.1f}x; per DAG: {t / max(n, 1) * 1000:.0f} ms; peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
