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
from typing import Any

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


def _assert_loopback_only(pid: int, ports: dict[str, int]) -> None:
    """Everything `make run` started listens on 127.0.0.1 only, on the ports it was given (issue 13)."""
    listening = _listening(pid)
    for var, port in ports.items():
        assert listening.get(port) == {"127.0.0.1"}, (var, port, listening)
    assert {ip for ips in listening.values() for ip in ips} == {"127.0.0.1"}, listening
    assert "8793" not in {str(p) for p in listening} - {str(p) for p in ports.values()}


# ---------------------------------------------------------------- the demo season played to the end (issue 15 §1)
def _failure_logs(home: Path, chars: int = 2500) -> str:
    """Failed tasks' log tails (task logs with a Traceback or ERROR) and the scheduler's and triggerer's logs."""
    parts = []
    for path in sorted((home / "airflow_home" / "logs").rglob("*.log")):
        text = path.read_text(errors="replace")
        if "Traceback" in text or "ERROR" in text:
            parts.append(f"----- {path.relative_to(home)} -----\n{text[-chars:]}")
    for name in ("scheduler", "triggerer"):
        path = home / "airflow_home" / "make-run-logs" / f"{name}.log"
        if path.exists():
            parts.append(f"----- {name}.log -----\n{path.read_text(errors='replace')[-chars:]}")
    return "\n".join(parts[-12:])


def _caught(maildir: Path) -> list[Any]:
    """The messages the local mail catcher received."""
    import mailbox
    from email import policy
    from email.parser import BytesParser

    box = mailbox.Maildir(maildir, create=False)
    return [BytesParser(policy=policy.default).parsebytes(box.get_bytes(key)) for key in box.keys()]


def _season_outcome(demo: Path) -> dict[str, Any]:
    """What the played season left: applications, their final mails, the package and the national mail."""
    from sqlalchemy import select

    from award.config import load_season
    from award.states import TERMINAL
    from award.store import session_scope
    from award.store.models import Application, AuditEvent, OutboxEmail

    season = load_season(str(demo / "season.yaml"))
    caught = _caught(demo / "sent-mail")
    caught_ids = {str(m["Message-ID"]).strip() for m in caught}
    url = f"sqlite:///{demo / 'award.db'}"
    apps: dict[str, dict[str, Any]] = {}
    with session_scope(url) as session:
        for app in session.scalars(select(Application).where(Application.season == season.season_id)):
            last = session.scalars(select(AuditEvent).where(
                AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
                AuditEvent.to_state == app.state).order_by(AuditEvent.id.desc())).first()
            final_at = last.at if last is not None else app.state_changed_at
            mails = session.scalars(select(OutboxEmail).where(
                OutboxEmail.application_id == app.id, OutboxEmail.status == "sent",
                OutboxEmail.created_at >= final_at)).all()
            apps[app.submission_no] = {
                "state": app.state, "final": app.state in {s.value for s in TERMINAL},
                "reason": (last.reason or "").strip() if last is not None else "",
                "final_mails": [m.template for m in mails if (m.message_id or "").strip() in caught_ids],
            }
    national = str(season.national.recipient_email)
    return {
        "apps": apps,
        "packages": sorted(p.name for p in (demo / "shared" / "national").rglob("*.zip")),
        "national_mails": [str(m["Subject"]) for m in caught if national in str(m["To"])],
    }


@pytest.mark.slow
def test_make_run_plays_the_demo_season_to_the_national_export(tmp_path: Path) -> None:
    """make run with a small season, then `award demo play --auto`: the package and the national mail exist, every
    applicant had a final mail, and no application is left in a non-final state without a reason. Deterministic:
    the demo's dates come from AWARD_FAKE_NOW and the demo clock, never from the wall clock.

    The same start also checks what `make run` promises (one Airflow start serves both, about a minute saved): it
    runs the Gansu demo season, every component listens on loopback only, and Ctrl-C stops all of it."""
    import psutil

    ports = {var: free_port() for var in PORT_VARS}
    env = _env(tmp_path, ports)
    env.update({"AWARD_DEMO_COUNT": "8", "AWARD_TASK_RETRIES": "0"})
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", str(RUN)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    demo = tmp_path / "var" / "demo"
    try:
        deadline = time.monotonic() + 540
        while "Airflow is running" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(2)
        text = log.read_text()
        assert "Airflow is running" in text, text[-3000:]
        assert "ports free on 127.0.0.1" in text and "triggerer started" in text and "all components healthy" in text
        _assert_gansu_demo(demo)
        _assert_loopback_only(proc.pid, ports)
        try:  # about 4 minutes on a loaded 2-core machine: a hang fails within the CI budget, with the logs
            play = subprocess.run([str(Path(sys.executable).parent / "award"), "demo", "play", "--auto",
                                   "--timeout", "240"], env={**env, "AWARD_DATA_DIR": str(demo)},
                                  capture_output=True, text=True, timeout=540)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout or "")
            pytest.fail(f"award demo play did not finish in 540 s:\n{out[-4000:]}\n{_failure_logs(tmp_path)}")
        assert play.returncode == 0, (f"award demo play failed ({play.returncode}):\n{play.stdout[-4000:]}\n"
                                      f"{play.stderr[-3000:]}\n{_failure_logs(tmp_path)}")
        outcome = _season_outcome(demo)
    finally:
        descendants = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(120)
    _, alive = psutil.wait_procs(descendants, timeout=30)
    assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"
    assert "==> stopped" in log.read_text() and "stopped; see" not in log.read_text()
    context = f"{outcome}\n{play.stdout[-3000:]}\n{_failure_logs(tmp_path)}"
    assert outcome["packages"], f"no national package\n{context}"
    assert outcome["national_mails"], f"no national mail at the mail catcher\n{context}"
    apps = outcome["apps"]
    assert len(apps) >= 8 and any(a["state"] == "exported" for a in apps.values()), context
    assert all(a["final_mails"] for a in apps.values() if a["final"]), f"a final mail is missing\n{context}"
    assert all(a["final"] or a["reason"] for a in apps.values()), f"left without a reason\n{context}"
    assert "演示申报季已完成" in play.stdout
    print(play.stdout)  # the steps and their seconds, shown with pytest -s
