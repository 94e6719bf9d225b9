"""What every pipeline DAG shares: default arguments, the failure notice, and the runtime built from connections.

Not a DAG file (listed in .airflowignore). Kept cheap at import: no database, no network.

Connections (Airflow connections, or AIRFLOW_CONN_* environment variables):
- ``smtp_default``: the outgoing SMTP server (host, port, login, password; extra ``from_email``, ``disable_ssl``,
  ``disable_tls``). Used by the outbox drain (yagmail) and by the failure notice (SmtpNotifier).
- ``award_imap``: the office mailbox (IMAP over TLS; used when AWARD_MAIL_SOURCE=imap). Its extra ``sent_folder``
  names the folder where the mail server files what the office sent: the outbox looks there before it resends
  an e-mail whose outcome is unknown.
- ``award_s3``: shared storage and blob store when AWARD_SHARED_URL / AWARD_BLOB_URL are ``s3://`` URLs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from award.config import Season
    from award.mail.outbox import YagmailSender
    from award.mail.sentfolder import ImapSentFolder
    from award.runtime import Runtime
    from award.seasonfile import ParseFacts

TZ = "Asia/Shanghai"
OWNER = "quality-office"
SMTP_CONN_ID = "smtp_default"
IMAP_CONN_ID = "award_imap"
S3_CONN_ID = "award_s3"
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


class OpsFailureNotifier(SmtpNotifier):
    """The failure notice to ops: what went wrong in a clerk's words, which application or file, what to do next.

    The words come from award.failures (templates/ops/); the error's own text is kept, masked, for the log reader.
    """

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
        from_email=facts().recommending_unit.email,
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
    from award.runtime import Runtime, blob_store, shared_storage
    from award.store.db import default_url

    uses_s3 = any(os.environ.get(v, "").startswith("s3://") for v in ("AWARD_SHARED_URL", "AWARD_BLOB_URL"))
    client = s3_client() if uses_s3 else None
    return Runtime(season=season(), db_url=default_url(), blobs=blob_store(client=client),
                   shared=shared_storage(client=client))


@contextmanager
def domain_session() -> Iterator[tuple[Session, Runtime]]:
    """The runtime and one transaction of the domain store, committed when the block ends without error.

    The preamble of every one-transaction task: ``with domain_session() as (session, rt): entry_point(session, rt)``.
    """
    from award.store import session_scope

    rt = runtime()
    with session_scope(rt.db_url) as session:
        yield session, rt


def smtp_sender() -> YagmailSender:
    """A yagmail sender configured from the ``smtp_default`` connection."""
    from airflow.sdk import BaseHook

    from award.mail.outbox import YagmailSender

    conn = BaseHook.get_connection(SMTP_CONN_ID)
    extra = conn.extra_dejson
    ssl = not bool(extra.get("disable_ssl", False))
    starttls = not ssl and not bool(extra.get("disable_tls", False))
    unit = season().recommending_unit
    return YagmailSender(
        host=conn.host or "127.0.0.1", port=int(conn.port or (465 if ssl else 25)),
        from_addr=extra.get("from_email") or str(unit.email), from_name=unit.name,
        user=conn.login or None, password=conn.password or None, ssl=ssl, starttls=starttls,
    )


def sent_folder() -> ImapSentFolder | None:
    """The office's "Sent" folder over IMAP, when the ``award_imap`` connection names one (extra ``sent_folder``)."""
    from airflow.sdk import BaseHook

    from award.inbound.sources import ImapSettings
    from award.mail.sentfolder import ImapSentFolder

    try:
        conn = BaseHook.get_connection(IMAP_CONN_ID)
    except Exception:  # noqa: BLE001 - no such connection (make run reads a Maildir): no sent-folder check
        return None
    settings = ImapSettings.from_connection(conn)
    return ImapSentFolder(settings) if settings.sent_folder else None
