"""Real servers for the tests, all on loopback: SMTP (aiosmtpd), IMAP (Dovecot), S3 (moto's HTTP server)."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(tool: str, what: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: .ci/run must install {what}")
        pytest.skip(f"{tool} not installed ({what})")


# ---------------------------------------------------------------- SMTP
@dataclass
class CaughtMail:
    """One message the SMTP server received."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def attachments(self) -> dict[str, bytes]:
        """Attachment file name -> bytes."""
        return {a.get_filename(): a.get_payload(decode=True) for a in self.message.iter_attachments()}


@dataclass
class SmtpCatcher:
    """A running aiosmtpd server and what it caught."""

    host: str
    port: int
    messages: list[CaughtMail] = field(default_factory=list)

    def to(self, addr: str) -> list[CaughtMail]:
        return [m for m in self.messages if addr in m.rcpt_tos]

    def sender(self, from_addr: str = "zlfzc@scjg.example.gov.cn"):  # type: ignore[no-untyped-def]
        from award.mail.smtp import YagmailSender

        return YagmailSender(host=self.host, port=self.port, from_addr=from_addr, from_name="省市场监管局质量发展局")


def smtp_catcher() -> tuple[SmtpCatcher, object]:
    """A real SMTP server (aiosmtpd) on a free loopback port, not yet started: (catcher, controller)."""
    from aiosmtpd.controller import Controller

    catcher = SmtpCatcher("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            catcher.messages.append(CaughtMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    return catcher, Controller(Handler(), hostname=catcher.host, port=catcher.port)


@pytest.fixture()
def smtp_server() -> Iterator[SmtpCatcher]:
    """A real SMTP server (aiosmtpd) on loopback catching everything sent to it."""
    catcher, controller = smtp_catcher()
    controller.start()  # type: ignore[attr-defined]
    try:
        yield catcher
    finally:
        controller.stop()  # type: ignore[attr-defined]


class FaultySmtp:
    """A real SMTP server (aiosmtpd) that misbehaves on purpose, one fault per e-mail, in the order given.

    Faults: ``"drop_at_data"`` (closes the connection on the DATA command: nothing stored), ``"drop_after_data"``
    (stores the e-mail, then closes without the 250), ``"stall_after_data"`` (stores it, never answers),
    ``"451"`` / ``"550"`` (answers the data with that code, nothing stored), ``"ok"`` (stores it, answers 250).
    When the faults run out every e-mail is ``"ok"``. ``file_to`` is called with every stored message (e.g. to
    file it in an IMAP "Sent" folder, as mail servers do).
    """

    def __init__(self, faults: list[str] | None = None, file_to=None) -> None:  # type: ignore[no-untyped-def]
        import asyncio

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        self.faults = list(faults or [])
        self.file_to = file_to
        self.catcher = SmtpCatcher("127.0.0.1", free_port())
        self.stall = asyncio.Event()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                fault = outer.faults.pop(0) if outer.faults else "ok"
                if fault in ("451", "550"):
                    return f"{fault} refused by the test server"
                outer.catcher.messages.append(CaughtMail(envelope.mail_from, list(envelope.rcpt_tos),
                                                         envelope.content))
                if outer.file_to is not None:
                    outer.file_to(envelope.content)
                if fault == "drop_after_data":
                    server.transport.abort()
                    return "250 OK"
                if fault == "stall_after_data":
                    await outer.stall.wait()
                return "250 OK"

        class Server(SMTP):
            async def smtp_DATA(self, arg: str) -> None:  # type: ignore[override]
                if outer.faults and outer.faults[0] == "drop_at_data":
                    outer.faults.pop(0)
                    self.transport.abort()
                    return
                await super().smtp_DATA(arg)

        class FaultyController(Controller):
            def factory(self):  # type: ignore[no-untyped-def]
                return Server(self.handler, **self.SMTP_kwargs)

        self.controller = FaultyController(Handler(), hostname=self.catcher.host, port=self.catcher.port)

    @property
    def messages(self) -> list[CaughtMail]:
        return self.catcher.messages

    def sender(self, timeout: int = 30):  # type: ignore[no-untyped-def]
        from award.mail.smtp import YagmailSender

        return YagmailSender(host=self.catcher.host, port=self.catcher.port, from_addr="zlfzc@scjg.example.gov.cn",
                             timeout=timeout)


@pytest.fixture()
def faulty_smtp() -> Iterator[FaultySmtp]:
    """A misbehaving real SMTP server; set ``.faults`` (and ``.file_to``) before sending."""
    server = FaultySmtp()
    server.controller.start()
    try:
        yield server
    finally:
        loop = server.controller.loop
        loop.call_soon_threadsafe(server.stall.set)
        server.controller.stop()


# ---------------------------------------------------------------- IMAP (Dovecot)
@dataclass
class Dovecot:
    """A private Dovecot instance on loopback with one user."""

    host: str
    port: int
    user: str
    password: str
    root: Path
    config: Path

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver a message with IMAP APPEND; returns its UID."""
        import imaplib

        conn = imaplib.IMAP4(self.host, self.port)
        try:
            conn.login(self.user, self.password)
            conn.create(folder)
            typ, data = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
            assert typ == "OK", data
            text = data[0].decode()
            return int(text.split("APPENDUID")[1].split()[1].rstrip("]"))
        finally:
            conn.logout()


DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 8
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


@pytest.fixture(scope="session")
def _dovecot_stops() -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    """Dovecot instances being stopped: a master takes about 2.5 s to stop, so tests do not wait for it; the
    session waits for all of them at its end and removes their folders."""
    stopping: list[tuple[subprocess.Popen[bytes], Path]] = []
    yield stopping
    for proc, root in stopping:
        proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def dovecot(_dovecot_stops: list[tuple[subprocess.Popen[bytes], Path]]) -> Iterator[Dovecot]:
    """A real Dovecot IMAP server (Debian's dovecot-imapd) on 127.0.0.1, started for the test.

    Its folder is directly under /tmp with mode 755 (Dovecot's unprivileged auth process must read the users file;
    pytest's base temp folder is 0700), and its output goes to /dev/null (the daemon keeps inherited pipes open).
    """
    import tempfile

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
    subprocess.run(["dovecot", "-c", str(config)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield Dovecot("127.0.0.1", port, "office", "secret", root, config)
    finally:  # each instance has its own folder and port: the next test need not wait for this one to stop
        _dovecot_stops.append((subprocess.Popen(["doveadm", "-c", str(config), "stop"], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL), root))


# ---------------------------------------------------------------- S3 (moto's server over HTTP)
@dataclass
class S3Endpoint:
    """moto's standalone S3 server over HTTP."""

    url: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """moto's standalone server, a real S3 HTTP endpoint on loopback (started in a subprocess)."""
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield S3Endpoint(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture()
def s3_bucket(s3_endpoint: S3Endpoint) -> tuple[object, str]:
    """A fresh bucket on the S3 endpoint: (client, bucket)."""
    import uuid

    client = s3_endpoint.client()
    bucket = f"award-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket
