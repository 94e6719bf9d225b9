"""Acknowledgment latency (`make bench`): from a mail landing in the mailbox to the acknowledgment at the SMTP catcher.

Under ``airflow standalone`` (scheduler, dag-processor, api-server and the triggerer that runs the intake watchers)
with a private AIRFLOW_HOME, free ports and the demo season (dates around today). One warm-up mail proves the chain
is up (not counted); then ``--mails`` (20) applicants' e-mails land in the office Maildir, ``--interval`` seconds
apart, and the script waits for each applicant's acknowledgment at an in-process aiosmtpd catcher.

Prints p50 / p95 / max latency against the target (p95 < 60 s) and against the timers alone (before the watchers:
intake every 15 minutes, then the outbox every 5: up to 1,200 s). A missed target prints ``TARGET MISSED``; the
script exits 1 only when an acknowledgment never arrives.

Run: ``.venv/bin/python bench/ack_latency_bench.py [--mails 20] [--interval 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mailbox
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TARGET_P95 = 60.0
TIMERS_ONLY_WORST = 15 * 60 + 5 * 60
FAKE_NOW = "2026-05-20T10:00:00+08:00"


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Catcher:
    """aiosmtpd on a free loopback port; the arrival time of the first mail to each recipient."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        catcher = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                with catcher.lock:
                    for rcpt in envelope.rcpt_tos:
                        catcher.arrived.setdefault(rcpt.lower(), time.time())
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def wait_for(self, addresses: list[str], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if all(a.lower() in self.arrived for a in addresses):
                    return True
            time.sleep(0.2)
        return False


def environment(work: Path, api_port: int, smtp_port: int) -> dict[str, str]:
    """What make run sets, on private folders and free ports."""
    env = dict(os.environ)
    env.update({
        "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AWARD_DATA_DIR": str(work / "demo"),
        "AWARD_SEASON_FILE": str(work / "demo" / "season.yaml"),
        "AWARD_MAILDIR": str(work / "demo" / "maildir"),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "zlfzc@scjg.example.gov.cn"}}),
    })
    for key in ("AWARD_DB_URL", "AWARD_BLOB_URL", "AWARD_SHARED_URL", "AWARD_MAIL_SOURCE"):
        env.pop(key, None)
    # The pipeline's clock inside the demo season's application period, in a year the working-day calendar knows
    # (chinesecalendar stops at 2026; a demo season around today may reach 2027). Latencies use the real clock.
    env.setdefault("AWARD_FAKE_NOW", FAKE_NOW)
    return env


def prepare(work: Path, env: dict[str, str], mails: int) -> list[tuple[bytes, str]]:
    """The demo season (no demo applications), the stores, and ``mails`` + 1 applicants' e-mails: (raw, sender)."""
    def run(*cmd: str) -> None:
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)

    run(str(VENV_BIN / "award"), "demo", "setup", "--root", str(work / "demo"), "--count", "0")
    run(str(VENV_BIN / "award"), "db", "upgrade")
    run(str(VENV_BIN / "airflow"), "db", "migrate")
    run(str(VENV_BIN / "airflow"), "pools", "import", str(ROOT / "deploy" / "pools.json"))
    code = (
        "import json, sys; from pathlib import Path\n"
        "from award.clock import now\nfrom award.config import load_season\n"
        "from award.demo.generator import generate\nfrom award.demo.setup import build_message\n"
        "out = Path(sys.argv[1]); n = int(sys.argv[2])\n"
        "generate(out, n, 4242, season=load_season(), defect_share=0.0, channels=('mail',))\n"
        "for meta_file in sorted((out / 'mail').glob('*/meta.json')):\n"
        "    meta = json.loads(meta_file.read_text(encoding='utf-8'))\n"
        "    (meta_file.parent / 'message.eml').write_bytes(build_message(meta, meta_file.parent, now()))\n"
        "    (meta_file.parent / 'sender.txt').write_text(meta['from'])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(work / "bench-gen"), str(mails + 1)], check=True, env=env)
    folders = sorted((work / "bench-gen" / "mail").iterdir())
    return [((f / "message.eml").read_bytes(), (f / "sender.txt").read_text()) for f in folders]


def wait_healthy(api_port: int, proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until the api-server reports scheduler, triggerer and dag-processor healthy."""
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError("airflow standalone stopped")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=3) as r:
                health = json.load(r)
            if all((health.get(c) or {}).get("status") == "healthy"
                   for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                return time.time() - start
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"Airflow not healthy after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop standalone and everything under it (task processes run in sessions of their own)."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _gone, alive = psutil.wait_procs(tree, timeout=30)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=20)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between two mails landing")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the acknowledgments")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) for inspection")
    args, _unknown = parser.parse_known_args()

    work = Path(tempfile.mkdtemp(prefix="award-ackbench-"))
    catcher = Catcher()
    catcher.controller.start()
    api_port = free_port()
    env = environment(work, api_port, catcher.port)
    messages = prepare(work, env, args.mails)
    box = mailbox.Maildir(work / "demo" / "maildir" / "office", create=True)

    log = open(work / "standalone.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([str(VENV_BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        started = wait_healthy(api_port, proc, 600)
        print(f"airflow standalone healthy after {started:.0f} s (triggerer included)", flush=True)
        (warm_raw, warm_sender), measured = messages[0], messages[1:]
        t0 = time.time()
        box.add(warm_raw)
        if not catcher.wait_for([warm_sender], args.timeout):
            print(f"FAILED: no acknowledgment of the warm-up mail in {args.timeout:.0f} s (logs: {work})")
            args.keep = True
            return 1
        print(f"warm-up mail acknowledged after {time.time() - t0:.1f} s (first parse of the DAGs, not counted)",
              flush=True)
        landed: dict[str, float] = {}
        for raw, sender in measured:
            box.add(raw)  # Maildir delivery: written to tmp/, renamed into new/ (atomic)
            landed[sender.lower()] = time.time()
            time.sleep(args.interval)
        if not catcher.wait_for(list(landed), args.timeout):
            missing = [s for s in landed if s not in catcher.arrived]
            print(f"FAILED: {len(missing)} of {len(landed)} acknowledgments missing after {args.timeout:.0f} s "
                  f"(logs: {work})")
            args.keep = True
            return 1
        latencies = [catcher.arrived[s] - t for s, t in landed.items()]
        p50, p95, worst = statistics.median(latencies), percentile(latencies, 95), max(latencies)
        print(f"acknowledgment latency over {len(latencies)} mails, {args.interval:g} s apart: "
              f"p50 {p50:.1f} s, p95 {p95:.1f} s, max {worst:.1f} s, min {min(latencies):.1f} s")
        print(f"target p95 < {TARGET_P95:.0f} s: {'met' if p95 < TARGET_P95 else 'TARGET MISSED'}")
        print(f"timers alone (intake every 15 min, outbox every 5): up to {TIMERS_ONLY_WORST} s; "
              f"worst case now {TIMERS_ONLY_WORST / worst:.0f}x shorter")
        return 0
    finally:
        stop(proc)
        log.close()
        catcher.controller.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
