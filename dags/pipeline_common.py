"""What every pipeline DAG shares: default arguments, the failure notice, and the runtime built from connections.

Not a DAG file (listed in .airflowignore). Kept cheap at import: no database, no network.

Connections (Airflow connections, or AIRFLOW_CONN_* environment variables): their ids and parsers are in
``award.connections``, listed in README.md ("Connections"). ``smtp_default`` is read through one parser
(``SmtpSettings``) by both the outbox (``smtp_sender``) and the failure notice (``SettingsSmtpHook``), so they
honour the same extras; ``award_imap`` through ``ImapSettings``; ``award_s3`` through S3Hook, when
``award.storage.registry`` says the storage URLs need it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from award.connections import IMAP_CONN_ID as IMAP_CONN_ID  # the ids are re-exported for the DAG files
from award.connections import IMAP_OBJECTIONS_CONN_ID as IMAP_OBJECTIONS_CONN_ID
from award.connections import S3_CONN_ID as S3_CONN_ID
from award.connections import SMTP_CONN_ID as SMTP_CONN_ID
from award.connections import ImapSettings, SmtpSettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from award.config import Season
    from award.mail import ImapSentFolder, YagmailSender
    from award.runtime import Runtime
    from award.seasonfile import ParseFacts

TZ = "Asia/Shanghai"
OWNER = "quality-office"
SMTP_POOL = "smtp"
IMAP_POOL = "imap"
TAGS = ["cqa"]


def season() -> Season:
    """The validated season configuration (cached per process): for tasks, not for parse time (see ``facts``)."""
    from award.config import cached_season

    return cached_season(os.environ.get("AWARD_SEASON_FILE"))


def facts() -> ParseFacts:
    """The few season facts a DAG file needs at parse time (read with libyaml, not validated; tasks validate)."""
    from award.seasonfile import parse_facts

    return parse_facts(os.environ.get("AWARD_SEASON_FILE"))


def local_dt(value: Any) -> pendulum.DateTime:
    """A date or datetime as an aware Asia/Shanghai pendulum datetime (for start_date/end_date)."""
    if hasattr(value, "hour"):
        return pendulum.instance(value).in_timezone(TZ)
    return pendulum.datetime(value.year, value.month, value.day, tz=TZ)


class SettingsSmtpHook(SmtpHook):
    """SmtpHook whose connection is read by ``award.connections.SmtpSettings``, the outbox's parser: the same
    extras mean the same to both (TLS kind, port default, timeout, certificate check, the From address)."""

    def __init__(self, smtp_conn_id: str = SMTP_CONN_ID, auth_type: str = "basic", *,
                 default_from: str | None = None) -> None:
        super().__init__(smtp_conn_id=smtp_conn_id, auth_type=auth_type)
        self.default_from = default_from

    @cached_property
    def settings(self) -> SmtpSettings:
        """The connection, parsed (after ``get_conn`` loaded it)."""
        return SmtpSettings.from_connection(self.conn, conn_id=self.smtp_conn_id)

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def smtp_user(self) -> str:
        return self.settings.login or ""

    @property
    def smtp_password(self) -> str:
        return self.settings.password or ""

    @property
    def use_ssl(self) -> bool:
        return self.settings.ssl

    @property
    def smtp_starttls(self) -> bool:
        return self.settings.starttls

    @property
    def timeout(self) -> int:
        return int(self.settings.timeout)

    @property
    def smtp_retry_limit(self) -> int:
        return self.settings.retry_limit

    @property
    def ssl_context(self) -> str | None:
        return "default" if self.settings.verify_certificate else "none"

    @property
    def from_email(self) -> str | None:
        return self.settings.sender(self.default_from) if self.default_from else self.settings.from_email


class OpsFailureNotifier(SmtpNotifier):
    """The failure notice to ops: what went wrong in a clerk's words, which application or file, what to do next.

    The words come from award.failures (templates/ops/); the error's own text is kept, masked, for the log reader.
    Sent from the ``from_email`` extra of ``smtp_default``, else ``default_from``, as the outbox sends.
    """

    def __init__(self, *, default_from: str, **kwargs: Any) -> None:
        super().__init__(from_email=None, **kwargs)
        self.default_from = default_from

    @cached_property
    def hook(self) -> SmtpHook:
        """The SMTP hook reading the connection as the outbox does."""
        return SettingsSmtpHook(smtp_conn_id=self.smtp_conn_id, auth_type=self.auth_type,
                                default_from=self.default_from)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Fill subject and body from the failed task's exception (no Jinja over the error's text)."""
        from award.failures import describe, failure_mail

        ti = context.get("ti") or context.get("task_instance")
        dag_id, task_id = str(getattr(ti, "dag_id", "")), str(getattr(ti, "task_id", ""))
        note = describe(context.get("exception"), dag_id=dag_id, task_id=task_id)
        self.subject, self.html_content = failure_mail(
            note, dag_id=dag_id, task_id=task_id, run_id=str(getattr(ti, "run_id", "")),
            try_number=getattr(ti, "try_number", ""))


def failure_notice() -> SmtpNotifier:
    """E-mail the ops address when a task fails for good."""
    return OpsFailureNotifier(
        to=facts().recommending_unit.ops_email,
        default_from=facts().recommending_unit.email,
        smtp_conn_id=SMTP_CONN_ID,
        subject="",
        html_content="",
    )


def default_args(**overrides: Any) -> dict[str, Any]:
    """Owner, retries with backoff, and the failure notice for every task."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": int(os.environ.get("AWARD_TASK_RETRIES", "2")),  # the tests set 0: a failure shows at once
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "on_failure_callback": failure_notice(),
    }
    args.update(overrides)
    return args


def s3_client() -> Any:
    """A boto3 S3 client from the ``award_s3`` connection (only when storage is on S3)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=S3_CONN_ID).get_conn()


def runtime() -> Runtime:
    """The domain runtime: season, store URL, blob store and shared storage (S3 through the connection)."""
    from award.runtime import Runtime, storage_uses_s3

    return Runtime.from_env(season=season(), client=s3_client() if storage_uses_s3() else None)


@contextmanager
def domain_session() -> Iterator[tuple[Session, Runtime]]:
    """The runtime and one transaction of the domain store, committed when the block ends without error.

    The preamble of every one-transaction task: ``with domain_session() as (session, rt): entry_point(session, rt)``.
    """
    from award.store import session_scope

    rt = runtime()
    with session_scope(rt.db_url) as session:
        yield session, rt


def smtp_settings() -> SmtpSettings:
    """The ``smtp_default`` connection, parsed as the failure notice reads it."""
    from airflow.sdk import BaseHook

    return SmtpSettings.from_connection(BaseHook.get_connection(SMTP_CONN_ID))


def smtp_sender() -> YagmailSender:
    """A yagmail sender configured from the ``smtp_default`` connection."""
    from award.mail import YagmailSender

    unit = season().recommending_unit
    return YagmailSender.from_settings(smtp_settings(), from_addr=str(unit.email), from_name=unit.name)


def sent_folder() -> ImapSentFolder | None:
    """The office's "Sent" folder over IMAP, when the ``award_imap`` connection names one (extra ``sent_folder``)."""
    from airflow.sdk import BaseHook

    from award.mail import ImapSentFolder

    try:
        conn = BaseHook.get_connection(IMAP_CONN_ID)
    except Exception:  # noqa: BLE001 - no such connection (make run reads a Maildir): no sent-folder check
        return None
    settings = ImapSettings.from_connection(conn)
    return ImapSentFolder(settings) if settings.sent_folder else None
