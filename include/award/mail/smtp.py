"""Sending one e-mail over SMTP with yagmail, telling "not delivered" from "outcome unknown" (for the outbox).

Configured from ``award.connections.SmtpSettings`` (the ``smtp_default`` connection), as the failure notice is.
"""

from __future__ import annotations

import email
import email.policy
import html
import io
import smtplib
import ssl as tls
from collections.abc import Sequence
from typing import Any

import yagmail

from award.connections import SmtpSettings
from award.mail.outbox import OutgoingAttachment, SendFailed, SendOutcomeUnknown, SendRejected


class YagmailSender:
    """Sends through SMTP with yagmail (the connection's host, port, login and TLS settings).

    ``verify_certificate``: check the server's certificate over TLS (the ``ssl_context`` extra ``default``), as the
    failure notice does; false (``none``) accepts any certificate.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        from_addr: str,
        from_name: str | None = None,
        user: str | None = None,
        password: str | None = None,
        ssl: bool = False,
        starttls: bool = False,
        timeout: float = 30,
        verify_certificate: bool = True,
    ) -> None:
        self.host, self.port, self.from_addr, self.from_name = host, port, from_addr, from_name
        self.user, self.password, self.ssl, self.starttls, self.timeout = user, password, ssl, starttls, timeout
        self.verify_certificate = verify_certificate

    @classmethod
    def from_settings(cls, settings: SmtpSettings, *, from_addr: str, from_name: str | None = None) -> YagmailSender:
        """From the ``smtp_default`` connection's settings; ``from_addr`` unless its ``from_email`` extra says."""
        return cls(
            host=settings.host, port=settings.port, from_addr=settings.sender(from_addr), from_name=from_name,
            user=settings.login, password=settings.password, ssl=settings.ssl, starttls=settings.starttls,
            timeout=settings.timeout, verify_certificate=settings.verify_certificate,
        )

    def _tls(self) -> dict[str, Any]:
        """yagmail's TLS arguments: a verifying context when asked (smtplib's default verifies nothing)."""
        context = tls.create_default_context() if self.verify_certificate else None
        if self.ssl:
            return {"smtp_ssl": True, "smtp_starttls": False, **({"context": context} if context else {})}
        return {"smtp_ssl": False, "smtp_starttls": ({"context": context} if context else True) if self.starttls
                else False}

    def send(
        self,
        *,
        to: Sequence[str],
        cc: Sequence[str],
        subject: str,
        text: str,
        attachments: Sequence[OutgoingAttachment],
        message_id: str,
    ) -> str:
        files = []
        for att in attachments:
            handle = io.BytesIO(att.data)
            handle.name = att.filename
            files.append(handle)
        address = self.user or self.from_addr  # yagmail logs in as the sender address
        user = {address: self.from_name} if self.from_name else address
        client = _plain_text_smtp_class()(
            user=user, password=self.password, host=self.host, port=self.port, **self._tls(),
            smtp_skip_login=self.password is None, soft_email_validation=False, timeout=self.timeout,
        )
        client.plain_text = text
        try:
            client.send(
                to=list(to), cc=list(cc) or None, subject=subject, contents=[html.escape(text)],
                attachments=files or None, message_id=message_id, group_messages=False,
                prettify_html=False,
            )
        except (SendFailed, SendOutcomeUnknown):
            raise
        except Exception as exc:  # connecting, TLS or login failed: nothing was sent
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            try:
                client.close()  # QUIT after the 250 changes nothing: its failure is not the send's
            except Exception:  # noqa: BLE001, S110
                pass
        return message_id


def _plain_text_smtp_class() -> type:
    """yagmail.SMTP whose text/plain alternative is the text itself (yagmail puts ``<br>`` into it)."""
    class PlainTextSMTP(yagmail.SMTP):  # type: ignore[misc]
        plain_text: str = ""

        def prepare_send(self, *args: Any, **kwargs: Any) -> tuple[list[str], str]:
            recipients, msg_string = super().prepare_send(*args, **kwargs)
            msg = email.message_from_string(msg_string, policy=email.policy.compat32)
            for part in msg.walk():
                if part.get_content_type() == "text/plain" and not part.get_filename():
                    part.set_payload(self.plain_text, charset="utf-8")
                    break
            return recipients, msg.as_string()

        def _attempt_send(self, recipients: list[str], msg_strings: str) -> dict[str, Any]:
            """One attempt, no reconnect-and-resend (yagmail's own loop resends after a timeout): the outbox owns
            retries. Raises ``SendOutcomeUnknown`` when the conversation broke after the end of the data."""
            return _send_once(self.smtp, self.user, recipients, msg_strings)

    return PlainTextSMTP


def _send_once(smtp: smtplib.SMTP, sender: str, recipients: list[str], message: str) -> dict[str, Any]:
    """``smtp.sendmail`` once, telling apart "not delivered" from "outcome unknown".

    The end-of-data marker going out is the point of no return: before it, a broken connection means the server
    dropped the e-mail (``SendFailed``); after it, the server may have stored it (``SendOutcomeUnknown``). A reply
    other than 250 is a definite failure (``SendRejected`` for 5xx). Returns the refused recipients (if some).
    """
    end_sent = False
    plain_send = smtp.send

    def send(data: Any) -> None:
        nonlocal end_sent
        plain_send(data)
        if isinstance(data, bytes) and data.endswith(b"\r\n.\r\n"):
            end_sent = True

    smtp.send = send  # type: ignore[method-assign,assignment]
    try:
        return dict(smtp.sendmail(sender, recipients, message))
    except smtplib.SMTPResponseException as exc:  # the server answered, with a refusal
        cls = SendRejected if 500 <= exc.smtp_code < 600 else SendFailed
        raise cls(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        cls = SendRejected if codes and all(500 <= c < 600 for c in codes) else SendFailed
        raise cls(f"recipients refused: {sorted(codes)}") from exc
    except (OSError, smtplib.SMTPException) as exc:  # timeout, reset, closed connection
        if end_sent:
            raise SendOutcomeUnknown(f"no reply after the data: {type(exc).__name__}: {exc}") from exc
        raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        smtp.send = plain_send  # type: ignore[method-assign]
