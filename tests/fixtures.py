"""The four fixtures most tests need, one each (a plugin of tests/conftest.py, so every test can ask for them):

- ``make_rt``: a :class:`award.runtime.Runtime` on a store URL, blobs and shared storage under the test's folder;
- ``fake_now``: the frozen domain clock (``AWARD_FAKE_NOW``), moved by the test;
- ``dag_env``: what a DAG's tasks read under ``dag.test()`` (store and storage URLs, the ``smtp_default``
  connection pointing at the test's SMTP catcher);
- ``raw_mail``: raw RFC 5322 bytes of a message (:func:`build_raw_mail`, also importable by helpers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Protocol

import pytest

from award.clock import now
from award.config import Season
from award.runtime import Runtime
from award.storage.blobs import BlobStore, LocalBlobStore
from award.storage.shared import LocalStorage, SharedStorage

OFFICE = "zlfzc@scjg.example.gov.cn"
DEFAULT_NOW = "2023-05-10T10:00:00"  # inside the 2023 season's application period


# ------------------------------------------------------------------------------------------------ runtime

class MakeRuntime(Protocol):
    def __call__(self, db_url: str, season: Season | None = None, *, blobs: BlobStore | None = None,
                 shared: SharedStorage | None = None) -> Runtime: ...


@pytest.fixture()
def make_rt(tmp_path: Path, season: Season) -> MakeRuntime:
    """Build a Runtime on a store URL; the shipped season, local blobs and shared storage under ``tmp_path`` unless
    given (e.g. an S3 store)."""

    def build(db_url: str, season_obj: Season | None = None, *, blobs: BlobStore | None = None,
              shared: SharedStorage | None = None) -> Runtime:
        return Runtime(season=season_obj or season, db_url=db_url,
                       blobs=LocalBlobStore(tmp_path / "blobs") if blobs is None else blobs,
                       shared=LocalStorage(tmp_path / "shared") if shared is None else shared)

    return build  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ clock

SetNow = Callable[..., datetime]


def clock_text(value: str | date | datetime, at: str = "09:00") -> str:
    """``AWARD_FAKE_NOW`` for a moment: an ISO datetime as it is, a day (text or date) at ``at`` o'clock."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T{at}:00"
    return f"{value}T{at}:00" if len(value) == 10 else value


@pytest.fixture()
def fake_now(monkeypatch: pytest.MonkeyPatch) -> SetNow:
    """The frozen domain clock, at ``DEFAULT_NOW`` until moved: ``fake_now("2023-05-11T10:00")``,
    ``fake_now(date(2023, 5, 11))`` (09:00), ``fake_now("2023-05-11", "16:30")``; returns the new now()."""

    def set_now(value: str | date | datetime, at: str = "09:00") -> datetime:
        monkeypatch.setenv("AWARD_FAKE_NOW", clock_text(value, at))
        return now()

    set_now(DEFAULT_NOW)
    return set_now


# ------------------------------------------------------------------------------------------------ DAG environment

def set_dag_environment(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path, smtp: Any = None, *,
                        maildir: Path | None = None, **env: str) -> str:
    """What a DAG's tasks read under dag.test(): the store, blobs and shared storage under ``tmp_path``, the
    embedded mailbox if given, ``smtp_default`` pointing at an SMTP catcher if given, and any further variables.
    Returns the store URL."""
    values = {"AWARD_DB_URL": db_url, "AWARD_BLOB_URL": str(tmp_path / "blobs"),
              "AWARD_SHARED_URL": str(tmp_path / "shared"), **env}
    if maildir is not None:
        values["AWARD_MAILDIR"] = str(maildir)
    if smtp is not None:
        values["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps({
            "conn_type": "smtp", "host": smtp.host, "port": smtp.port,
            "extra": {"disable_ssl": True, "disable_tls": True}})
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return db_url


class DagEnv(Protocol):
    def __call__(self, db_url: str, smtp: Any = None, *, maildir: Path | None = None, **env: str) -> str: ...


@pytest.fixture()
def dag_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DagEnv:
    """:func:`set_dag_environment` for this test: ``dag_env(sqlite_url, smtp_server, AWARD_FAKE_NOW=...)``."""

    def apply(db_url: str, smtp: Any = None, *, maildir: Path | None = None, **env: str) -> str:
        return set_dag_environment(monkeypatch, db_url, tmp_path, smtp, maildir=maildir, **env)

    return apply  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ raw mail

def build_raw_mail(
    subject: str | None,
    body: str = "正文",
    *,
    sender: str | None = "a@example.com",
    to: str = OFFICE,
    attachments: Mapping[str, bytes] | None = None,
    attachment_type: str = "application/octet-stream",
    dated: datetime | None = None,
    msgid_domain: str | None = None,
) -> bytes:
    """A message as raw RFC 5322 bytes (UTF-8; attachments keep their Chinese names). ``sender`` or ``subject``
    None leaves the header out; ``dated``/``msgid_domain`` add Date and Message-ID."""
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = to
    if subject is not None:
        msg["Subject"] = subject
    if dated is not None:
        msg["Date"] = format_datetime(dated)
    if msgid_domain is not None:
        msg["Message-ID"] = make_msgid(domain=msgid_domain)
    msg.set_content(body)
    maintype, _, subtype = attachment_type.partition("/")
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture()
def raw_mail() -> Callable[..., bytes]:
    """:func:`build_raw_mail`."""
    return build_raw_mail
