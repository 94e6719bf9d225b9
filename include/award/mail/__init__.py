"""The outbox: every e-mail queued with an idempotency key, then sent over SMTP. Entry points the DAGs call are
listed in __all__."""

from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.mail.outbox import plan_sends, resolve_sent, retry, send_planned
    from award.mail.sentfolder import ImapSentFolder
    from award.mail.smtp import YagmailSender

__all__ = ["ImapSentFolder", "YagmailSender", "plan_sends", "resolve_sent", "retry", "send_planned"]
__getattr__ = lazy(__name__, {"plan_sends": ".outbox", "send_planned": ".outbox", "retry": ".outbox",
                              "resolve_sent": ".outbox", "ImapSentFolder": ".sentfolder", "YagmailSender": ".smtp"})
