"""When intake runs and which mailbox it reads: the intake window and the office mailbox's kind.

Scheduled runs work from the season's ``application_open`` until the provincial deadline plus a grace period
(``AWARD_INTAKE_GRACE_DAYS``, default 30 days), so that late arrivals are still archived and answered and
corrections sent after the deadline are taken while their correction period runs. Manual runs always pass.
The mailbox is ``AWARD_MAIL_SOURCE``: ``maildir`` (the default) or ``imap`` (settings from the ``award_imap``
connection, read by the DAG).
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta

from award.clock import TZ, now
from award.config import Season
from award.enums import SourceChannel

GRACE_DAYS_VAR = "AWARD_INTAKE_GRACE_DAYS"
MAIL_SOURCE_VAR = "AWARD_MAIL_SOURCE"


def grace() -> timedelta:
    """How long after the provincial deadline scheduled runs go on (``AWARD_INTAKE_GRACE_DAYS``, default 30)."""
    return timedelta(days=int(os.environ.get(GRACE_DAYS_VAR, "30")))


def window_open(season: Season, *, manual: bool = False, at: datetime | None = None) -> bool:
    """Whether an intake run works now: a manual run always; a scheduled one from ``application_open`` (Beijing
    midnight) to the provincial deadline plus ``grace()``."""
    if manual:
        return True
    current, dates = at or now(), season.dates
    opens = datetime.combine(dates.application_open, time(), tzinfo=TZ)
    return opens <= current <= dates.provincial_deadline + grace()


def mail_source_kind() -> str:
    """The office mailbox's kind as ``AWARD_MAIL_SOURCE`` names it (``maildir`` by default), lower case."""
    return os.environ.get(MAIL_SOURCE_VAR, SourceChannel.MAILDIR).strip().lower()


def imap_mailbox() -> bool:
    """Whether the office mailbox is read over IMAP (``AWARD_MAIL_SOURCE=imap``): the DAG then reads the
    ``award_imap`` connection's settings."""
    return mail_source_kind() == SourceChannel.IMAP
