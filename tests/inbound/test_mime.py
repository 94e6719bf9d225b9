"""Inbound mail decoding against messages built the way Chinese mail clients send them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from award.cli import main
from award.inbound.mime import decode_words, parse_message
from tests import mailcases as mc


def names(raw: bytes) -> list[str]:
    return [a.filename for a in parse_message(raw).attachments]


def test_foxmail_gb2312_label_with_gbk_only_characters() -> None:
    msg = parse_message(mc.foxmail_gbk_quoted_encoded_words())
    assert msg.subject == mc.FOXMAIL_SUBJECT
    assert msg.sender_name == mc.FOXMAIL_SENDER
    assert msg.sender_addr == "wangzr@zherong.example.cn"
    assert msg.message_id == "<202307100930001234@zherong.example.cn>"
    assert msg.date == datetime(2023, 7, 10, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert msg.body_text == mc.FOXMAIL_BODY
    assert [a.filename for a in msg.attachments] == [mc.FOXMAIL_FILE]
    att = msg.attachments[0]
    assert att.data.startswith(b"PK\x03\x04")
    assert att.sha256 == hashlib.sha256(att.data).hexdigest() and att.size == len(att.data)
    assert att.origin == "attachment"
    assert msg.problems == []


def test_split_encoded_words_cutting_characters() -> None:
    msg = parse_message(mc.split_encoded_words())
    assert msg.subject == mc.SPLIT_SUBJECT
    assert msg.sender_name == "省质量协会"
    assert [a.filename for a in msg.attachments] == [mc.SPLIT_FILE, mc.SPLIT_FILE_UTF8]
    assert msg.body_text == "请查收。"
    assert msg.problems == []


def test_rfc2231_continuations_utf8_and_gbk() -> None:
    msg = parse_message(mc.rfc2231_continuations())
    assert [a.filename for a in msg.attachments] == [mc.RFC2231_FILE, mc.RFC2231_FILE_GBK]
    assert msg.subject == "个人申报"
    assert msg.body_text == "见附件"
    assert msg.problems == []


def test_qq_name_only_and_missing_name_generated() -> None:
    msg = parse_message(mc.qq_name_only())
    assert [a.filename for a in msg.attachments] == [mc.QQ_FILE, "attachment-1.pdf"]
    assert msg.sender_name == "赵六"
    assert msg.body_text == "请审阅\n谢谢"  # from the HTML part
    assert any("without a file name" in p for p in msg.problems)


def test_raw_8bit_gbk_headers() -> None:
    msg = parse_message(mc.raw_8bit_gbk_header())
    assert msg.subject == mc.RAW8_SUBJECT
    assert msg.sender_name == mc.RAW8_SENDER
    assert msg.sender_addr == "lisi@example.cn"
    assert names(mc.raw_8bit_gbk_header()) == [mc.RAW8_FILE]
    assert msg.body_text == "补正材料见附件。"


def test_forwarded_messages_attachments_recursively() -> None:
    msg = parse_message(mc.forwarded_with_attachments())
    assert msg.subject == "转发：申报材料"
    assert msg.sender_name == "杭州市市场监管局"
    got = [(a.filename, a.origin) for a in msg.attachments]
    assert got == [
        (mc.FWD_OUTER_FILE, "attachment"),
        (mc.FWD_INNER_FILES[0], "forwarded:1"),
        (mc.FWD_INNER_FILES[1], "forwarded:1"),
        (mc.FWD_NESTED_FILE, "forwarded:1.1"),
        (mc.FWD_B64_FILE, "forwarded:2"),
    ]
    assert msg.attachments[4].data == mc.PDF_BYTES + b"%city"
    assert msg.body_text == "forwarded"  # the forwarded bodies are not the message's body


def test_gb18030_and_gb2312_labelled_bodies() -> None:
    msg = parse_message(mc.gb18030_body())
    assert msg.body_text == mc.GB18030_BODY
    html_only = mc.gb18030_body().replace(b"Content-Type: text/plain; charset=GB18030", b"Content-Type: image/x-none")
    assert parse_message(html_only).body_text == mc.GB2312_QP_BODY


def test_outlook_utf8() -> None:
    msg = parse_message(mc.outlook_utf8())
    assert msg.subject == mc.OUTLOOK_SUBJECT
    assert msg.sender_name == "陈七"
    assert msg.body_text == mc.OUTLOOK_BODY
    assert [a.filename for a in msg.attachments] == [mc.OUTLOOK_FILE]
    assert msg.attachments[0].data == mc.PDF_BYTES
    assert msg.date is not None and msg.date.utcoffset() == timedelta(0)


def test_malformed_message_never_raises() -> None:
    msg = parse_message(mc.malformed())
    assert msg.sender_addr == "broken@example.cn"
    assert msg.date is None
    assert msg.subject.startswith("中文")
    assert [a.filename for a in msg.attachments] == ["中文.pdf"]
    assert any("Date" in p for p in msg.problems)
    assert any("Boundary" in p for p in msg.problems)


def _cut_mail(last: bytes) -> tuple[bytes, int]:
    """A mail with a PDF and then ``last`` (a photo), and the offset of the last base64 line end of ``last``."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.com", "申报材料"
    msg.set_content("材料见附件")
    msg.add_attachment(mc.PDF_BYTES, maintype="application", subtype="pdf", filename="申报表.pdf")
    msg.add_attachment(last, maintype="image", subtype="jpeg", filename="证书照片.jpg")
    raw = msg.as_bytes()
    end = raw.rindex(b"\n--")  # the closing boundary
    return raw, raw.rindex(b"\n", 0, end - 200) + 1  # a line end well inside the photo's base64


def test_a_mail_cut_at_a_base64_line_end_marks_its_last_file_truncated() -> None:
    """A cut on a line end leaves valid base64 (76-character lines): the missing closing boundary tells."""
    photo = mc.JPEG_BYTES[:-2] + bytes(range(256)) * 20 + b"\xff\xd9"
    raw, at = _cut_mail(photo)
    whole = parse_message(raw)
    assert [a.truncated for a in whole.attachments] == [False, False] and whole.structure is None
    cut = parse_message(raw[:at])
    assert [a.filename for a in cut.attachments] == ["申报表.pdf", "证书照片.jpg"]
    assert cut.structure == "truncated" and [a.truncated for a in cut.attachments] == [False, True]
    assert cut.attachments[1].size < len(photo)
    mid = parse_message(raw[: at + 7])  # mid-line: the base64 itself is short
    assert [a.truncated for a in mid.attachments] == [False, True]


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe garbage", b"Subject: =?gbk?B?!!!?=\r\n\r\n", b"--\r\n" * 50])
def test_garbage_never_raises(raw: bytes) -> None:
    parse_message(raw)


def test_decode_words_joins_same_charset_and_keeps_literals() -> None:
    cut = "喆镕".encode("gbk")
    assert decode_words(f"=?gb2312?Q?={cut[0]:02X}?= =?GB2312?Q?{''.join(f'={b:02X}' for b in cut[1:])}?=") == "喆镕"
    assert decode_words("Re: =?utf-8?B?5Lit?= 文") == "Re: 中 文"


def test_cli_inspect_json(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    eml = tmp_path / "m.eml"
    eml.write_bytes(mc.forwarded_with_attachments())
    split = tmp_path / "s.eml"
    split.write_bytes(mc.split_encoded_words())
    assert main(["mail", "inspect", str(split), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["subject"] == mc.SPLIT_SUBJECT
    assert doc["from"] == "省质量协会 <xiehui@example.org.cn>"
    zip_entry = doc["attachments"][0]
    assert zip_entry["filename"] == mc.SPLIT_FILE
    assert [m["filename"] for m in zip_entry["members"]] == list(mc.GBK_ZIP_NAMES)
    assert {m["content_type"] for m in zip_entry["members"]} == {"application/pdf", "image/jpeg", "text/plain"}
    assert set(zip_entry["members"][0]) == {"filename", "size", "sha256", "content_type"}
    assert main(["mail", "inspect", str(eml), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [a["filename"] for a in doc["attachments"]][-1] == mc.FWD_B64_FILE


def test_cli_inspect_lists_refusals(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    raw = mc.split_encoded_words().replace(
        mc._b64body(mc.gbk_zip()).encode(), mc._b64body(mc.traversal_zip()).encode()
    )
    eml = tmp_path / "t.eml"
    eml.write_bytes(raw)
    assert main(["mail", "inspect", str(eml), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    archive = doc["attachments"][0]
    assert [m["filename"] for m in archive["members"]] == ["正常/申报表.pdf"]
    assert {r["reason_code"] for r in archive["refusals"]} == {"path_traversal"}
    assert all("压缩包" in r["reason"] for r in archive["refusals"])


def test_cli_inspect_missing_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "不存在.eml"
    assert main(["mail", "inspect", str(missing), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["file"] == str(missing)
    assert "not found" in doc["error"]


FUZZ_BASES = tuple(
    f() for f in (mc.foxmail_gbk_quoted_encoded_words, mc.split_encoded_words, mc.forwarded_with_attachments, mc.raw_8bit_gbk_header)
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_parse_never_raises_on_corrupted_messages(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(FUZZ_BASES)))
    for _ in range(data.draw(st.integers(1, 10))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    msg = parse_message(bytes(raw))
    assert all(a.size == len(a.data) for a in msg.attachments)
