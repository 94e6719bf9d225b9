"""The intake window (``award.intake.window_open``) and the mailbox choice (``award.intake.imap_mailbox``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from award.clock import TZ
from award.config import Season
from award.intake import imap_mailbox, window_open


def test_scheduled_runs_work_from_the_opening_to_the_deadline_plus_grace(season: Season,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWARD_INTAKE_GRACE_DAYS", raising=False)
    opens = datetime.combine(season.dates.application_open, datetime.min.time(), tzinfo=TZ)
    closes = season.dates.provincial_deadline + timedelta(days=30)
    assert not window_open(season, at=opens - timedelta(seconds=1))
    assert window_open(season, at=opens) and window_open(season, at=closes)
    assert not window_open(season, at=closes + timedelta(seconds=1))
    assert window_open(season, manual=True, at=closes + timedelta(days=365)), "manual runs always pass"
    monkeypatch.setenv("AWARD_INTAKE_GRACE_DAYS", "0")
    assert not window_open(season, at=season.dates.provincial_deadline + timedelta(seconds=1))


def test_the_mailbox_is_a_maildir_unless_imap_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWARD_MAIL_SOURCE", raising=False)
    assert not imap_mailbox()
    monkeypatch.setenv("AWARD_MAIL_SOURCE", " IMAP ")
    assert imap_mailbox()
