"""Local fixtures of the opinions tests.

``dovecot`` overrides tests/servers.py's fixture of the same name only to start the daemon with its output sent to
/dev/null and its files outside pytest's base temp folder: there, ``subprocess.run(["dovecot", ...],
capture_output=True)`` never returns because the daemonised dovecot keeps the captured pipes open, and the
dovecot user cannot read files under /tmp/pytest-of-root (mode 0700). Reported to the lead; drop this override
once servers.py is fixed.
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
    """A real Dovecot IMAP server on 127.0.0.1 (same set-up as tests/servers.py)."""
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
                   stdin=subprocess.DEVNULL)
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
        subprocess.run(["doveadm", "-c", str(config), "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
