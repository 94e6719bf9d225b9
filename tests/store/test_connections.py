"""Connections read one way: the ids in award.connections, and one SMTP parser that the outbox's sender and the
failure notice's hook both honour (the same extras mean the same to both)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from award import connections
from award.connections import ConnectionSettingsError, ImapSettings, SmtpSettings


def _conn(host: str | None = "mail.example.gov.cn", port: Any = None, login: str | None = None,
          password: str | None = None, **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(host=host, port=port, login=login, password=password, extra_dejson=extra)


def test_defaults_are_implicit_tls_on_465_with_a_certificate_check() -> None:
    s = SmtpSettings.from_connection(_conn(host=None))
    assert (s.host, s.port, s.ssl, s.starttls, s.verify_certificate) == ("127.0.0.1", 465, True, False, True)
    assert (s.login, s.password, s.from_email, s.timeout, s.retry_limit) == (None, None, None, 30, 5)
    assert s.sender("zlfzc@scjg.example.gov.cn") == "zlfzc@scjg.example.gov.cn"


@pytest.mark.parametrize("extra, ssl, starttls, port", [
    ({}, True, False, 465),  # implicit TLS, never STARTTLS on top of it
    ({"disable_tls": True}, True, False, 465),
    ({"disable_ssl": True}, False, True, 25),  # STARTTLS
    ({"disable_ssl": "true", "disable_tls": "false"}, False, True, 25),  # a URI's query string: text
    ({"disable_ssl": True, "disable_tls": True}, False, False, 25),  # plain SMTP (a local relay)
    ({"disable_ssl": "1", "disable_tls": "yes"}, False, False, 25),
    ({"disable_ssl": False, "disable_tls": False}, True, False, 465),
])
def test_ssl_starttls_and_plain(extra: dict[str, Any], ssl: bool, starttls: bool, port: int) -> None:
    s = SmtpSettings.from_connection(_conn(**extra))
    assert (s.ssl, s.starttls, s.port) == (ssl, starttls, port)


def test_fields_and_extras_are_read() -> None:
    s = SmtpSettings.from_values("smtp.example", "2525", "office", "secret", json.dumps(
        {"from_email": " zlfzc@scjg.example.gov.cn ", "timeout": "12.5", "retry_limit": 2, "ssl_context": "none"}))
    assert (s.host, s.port, s.login, s.password) == ("smtp.example", 2525, "office", "secret")
    assert (s.from_email, s.timeout, s.retry_limit, s.verify_certificate) == ("zlfzc@scjg.example.gov.cn", 12.5, 2,
                                                                              False)
    assert s.sender("unit@example.gov.cn") == "zlfzc@scjg.example.gov.cn"


@pytest.mark.parametrize("extra, named", [
    ({"disable_tsl": True}, "'disable_tsl' (did you mean 'disable_tls'?)"),
    ({"fromemail": "a@b"}, "'fromemail' (did you mean 'from_email'?)"),
    ({"disable_ssl": "maybe"}, "'disable_ssl' must be true or false"),
    ({"timeout": "soon"}, "'timeout' must be a number"),
    ({"ssl_context": "strict"}, "'ssl_context' must be default or none"),
    ({"auth_type": "oauth2"}, "'auth_type' 'oauth2' is not supported"),
])
def test_a_wrong_extra_is_named(extra: dict[str, Any], named: str) -> None:
    with pytest.raises(ConnectionSettingsError) as error:
        SmtpSettings.from_connection(_conn(**extra))
    assert named in str(error.value) and "smtp_default" in str(error.value)


def test_a_bad_port_or_extra_text_is_an_error() -> None:
    with pytest.raises(ConnectionSettingsError, match="port"):
        SmtpSettings.from_values("h", "smtp")
    with pytest.raises(ConnectionSettingsError, match="not JSON"):
        SmtpSettings.from_values("h", 25, extra="{disable_ssl")


def test_the_outbox_sender_is_built_from_the_settings() -> None:
    from award.mail.smtp import YagmailSender

    settings = SmtpSettings.from_connection(_conn(port=587, login="office", password="pw", disable_ssl=True,
                                                  timeout=9, ssl_context="none"))
    sender = YagmailSender.from_settings(settings, from_addr="unit@example.gov.cn", from_name="质量发展局")
    assert (sender.host, sender.port, sender.user, sender.password) == ("mail.example.gov.cn", 587, "office", "pw")
    assert (sender.ssl, sender.starttls, sender.timeout, sender.verify_certificate) == (False, True, 9, False)
    assert sender.from_addr == "unit@example.gov.cn"
    assert sender._tls() == {"smtp_ssl": False, "smtp_starttls": True}  # noqa: SLF001 - what yagmail is given
    verified = YagmailSender.from_settings(SmtpSettings.from_connection(_conn()), from_addr="u@example.gov.cn")
    assert set(verified._tls()) == {"smtp_ssl", "smtp_starttls", "context"}  # noqa: SLF001


def test_the_failure_notice_hook_reads_the_same_settings() -> None:
    """The failure notice's SmtpHook answers from SmtpSettings: the same TLS kind, port, timeout and sender."""
    import pipeline_common

    conn = _conn(login="office", password="pw", disable_ssl=True, from_email="ops-sender@example.gov.cn",
                 timeout=7, retry_limit=1)
    hook = pipeline_common.SettingsSmtpHook(default_from="unit@example.gov.cn")
    hook.smtp_connection = conn  # what get_conn loads
    settings = SmtpSettings.from_connection(conn)
    assert (hook.host, hook.port, hook.use_ssl, hook.smtp_starttls) == (settings.host, 25, False, True)
    assert (hook.timeout, hook.smtp_retry_limit, hook.ssl_context) == (7, 1, "default")
    assert (hook.smtp_user, hook.smtp_password, hook.from_email) == ("office", "pw", "ops-sender@example.gov.cn")
    notifier = pipeline_common.failure_notice()
    assert notifier.from_email is None  # filled from the hook when sending: the extra, else the unit's address
    assert isinstance(notifier.hook, pipeline_common.SettingsSmtpHook)
    assert notifier.hook.default_from == notifier.default_from


def test_imap_settings_share_the_flag_parser() -> None:
    s = ImapSettings.from_connection(_conn(port=None, login="u", password="p", use_ssl="false", starttls="yes",
                                           sent_folder="已发送"))
    assert (s.port, s.use_ssl, s.starttls, s.sent_folder, s.folder) == (143, False, True, "已发送", "INBOX")
    assert ImapSettings.from_connection(_conn(use_ssl=True)).port == 993
    with pytest.raises(ConnectionSettingsError, match="'sent_foldr' \\(did you mean 'sent_folder'\\?\\)"):
        ImapSettings.from_connection(_conn(sent_foldr="Sent"))


def test_every_connection_id_is_a_constant_and_listed_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Connections", 1)[1].split("\n## ", 1)[0]
    for conn_id in connections.CONNECTION_IDS:
        assert f"`{conn_id}`" in section, conn_id
