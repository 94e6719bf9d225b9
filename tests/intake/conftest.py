"""Intake test fixtures.

``dovecot`` is overridden here: tests/servers.py starts Dovecot with ``capture_output=True`` and the daemonised
master keeps the pipes open, so ``subprocess.run`` never returns; and pytest's base temp folder is mode 0700, so
Dovecot's unprivileged auth process cannot read the users file there. This copy sends the output to /dev/null and
uses a folder directly under /tmp (remove it once tests/servers.py does the same).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import DOVECOT_CONF, Dovecot, _need, free_port


@pytest.fixture()
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot IMAP server on 127.0.0.1 (same set-up as tests/servers.py, without the pipe hang)."""
    _need("dovecot", "Debian's dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="award-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
        (root / sub).chmod(0o755)
    shutil.chown(root / "mail", "mail", "mail")
    port = free_port()
    (root / "users").write_text("office:{PLAIN}secret\n")
    config = root / "dovecot.conf"
    config.write_text(DOVECOT_CONF.format(root=root, port=port))
    subprocess.run(["dovecot", "-c", str(config)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield Dovecot("127.0.0.1", port, "office", "secret", root, config)
    finally:
        subprocess.run(["doveadm", "-c", str(config), "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        shutil.rmtree(root, ignore_errors=True)
