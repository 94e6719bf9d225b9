"""`make bench`: run every benchmark in its own process (so peak RSS is its own) and print the figures.

Each script prints its own figures, including the raw baseline it measures in the same run and the ratio.
Record the figures with the machine in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["dag_parse_bench.py", "intake_bench.py", "hostile_bench.py", "package_bench.py", "desk_bench.py",
           "ack_latency_bench.py", "season_bench.py"]


def machine() -> str:
    """One line describing this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    print(f"machine: {machine()}", flush=True)
    failed = 0
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            print(f"\n== {name}: not present, skipped")
            continue
        print(f"\n== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
