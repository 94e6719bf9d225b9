"""The season benchmark (bench/season_bench.py) runs a small season to the national export and prints every stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "season_bench.py"
STAGES = ("intake", "completeness", "opinions", "publicity", "recommendation", "outbox")
COUNT = 6  # enough for every stage: the tax bureau's objection, the publicity objection, both quota groups


def test_a_small_season_reaches_the_national_export_with_every_stage_printed(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--count", str(COUNT)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    for stage in (*STAGES, "season"):
        row = next((line for line in lines if line.split()[:1] == [stage]), None)
        assert row is not None, f"no figures for {stage}:\n{out.stdout}"
        wall, cpu, handled = row.split()[1:4]
        assert float(wall) >= 0 and float(cpu) >= 0 and int(handled) > 0, row
    assert "CRASHED" not in out.stdout and "WRONG RESULT" not in out.stdout
    assert f"states at the end: {{'exported': {COUNT}}}" in out.stdout  # every application reached the export
    assert "national export: version 1" in out.stdout
    assert "target: whole season under 180 s of CPU" in out.stdout
    assert "total CPU: " in out.stdout
