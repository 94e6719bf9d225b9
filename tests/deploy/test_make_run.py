"""`make run` (scripts/run.sh): every port it needs is checked first and a taken one is named before anything starts
(issue 15 §6); everything it starts listens on loopback only, the task and triggerer log servers included (issue 13),
and Ctrl-C stops all of it. The second test runs the real script on free ports and private folders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "scripts" / "run.sh"
PORT_VARS = {
    "AIRFLOW_PORT": "Airflow UI and API",
    "AIRFLOW_WORKER_LOG_PORT": "task log server",
    "AIRFLOW_TRIGGER_LOG_PORT": "triggerer log server",
    "AWARD_SMTP_PORT": "mail catcher",
}
FAKE_NOW = "2026-05-20T10:00:00+08:00"  # the demo season in a year the working-day calendar knows


def _env(home: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWARD_"))}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"AWARD_RUN_HOME": str(home), "AWARD_DEMO_COUNT": "2", "AWARD_FAKE_NOW": FAKE_NOW,
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"})
    return env


@pytest.mark.parametrize("taken", sorted(PORT_VARS))
def test_a_taken_port_is_named_and_nothing_starts(taken: str, tmp_path: Path) -> None:
    ports = {var: free_port() for var in PORT_VARS}
    with socket.socket() as holder:  # someone else's server on that port (all interfaces, as standalone binds)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", ports[taken]))
        holder.listen()
        done = subprocess.run(["bash", str(RUN)], env=_env(tmp_path, ports), capture_output=True, text=True,
                              timeout=120)
    assert done.returncode != 0
    assert str(ports[taken]) in done.stderr and PORT_VARS[taken] in done.stderr and taken in done.stderr
    assert "Nothing was started" in done.stderr
    assert not (tmp_path / "airflow_home").exists() and not (tmp_path / "var").exists()


def _listening(root: int) -> dict[int, set[str]]:
    """Port -> addresses listened on by ``root`` and all its descendants."""
    import psutil

    out: dict[int, set[str]] = {}
    procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN:
                out.setdefault(c.laddr.port, set()).add(c.laddr.ip)
    return out


def _assert_gansu_demo(demo: Path) -> None:
    """Issue 12: `make run` runs on the Gansu season (the shipped one, dates moved, addresses on example domains)."""
    import re

    from award.config import load_season

    season = load_season(demo / "season.yaml")
    shipped = load_season()
    assert season.province.name == shipped.province.name and season.province.cities == shipped.province.cities
    assert season.recommending_unit.name == shipped.recommending_unit.name
    addresses = re.findall(r"[\w.+-]+@[\w.-]+", (demo / "season.yaml").read_text(encoding="utf-8"))
    assert addresses and all(a.rsplit("@", 1)[1].endswith(".example") for a in addresses)


@pytest.mark.slow
def test_make_run_listens_on_loopback_only_and_stops_cleanly(tmp_path: Path) -> None:
    import psutil

    ports = {var: free_port() for var in PORT_VARS}
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", str(RUN)], env=_env(tmp_path, ports), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 540
        while "Airflow is running" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(2)
        text = log.read_text()
        assert "Airflow is running" in text, text[-3000:]
        assert "ports free on 127.0.0.1" in text and "triggerer started" in text and "all components healthy" in text
        _assert_gansu_demo(tmp_path / "var" / "demo")
        listening = _listening(proc.pid)
        for var, port in ports.items():
            assert listening.get(port) == {"127.0.0.1"}, (var, port, listening)
        assert {ip for ips in listening.values() for ip in ips} == {"127.0.0.1"}, listening
        assert "8793" not in {str(p) for p in listening} - {str(p) for p in ports.values()}
    finally:
        descendants = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(120)
    gone, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"
    assert "==> stopped" in log.read_text() and "stopped; see" not in log.read_text()
