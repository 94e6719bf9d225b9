"""Decode inbound e-mail the way Chinese mail clients really send it.

Handles RFC 2047 encoded-words in GBK/GB2312/GB18030/UTF-8 (gb2312 and gbk are decoded as gb18030, their
superset), encoded-words inside quoted ``filename=``/``name=`` parameters, one name split over several
encoded-words at byte boundaries (adjacent same-charset words are joined before decoding), RFC 2231
``filename*=`` with continuations, names only in ``Content-Type: name=``, raw 8-bit GBK/UTF-8 header
bytes, forwarded ``message/rfc822`` parts (their attachments are included, recursively), base64 and
quoted-printable bodies. ``parse_message`` never raises on a malformed message: it records problems.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import email.utils
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from award.intake.filetypes import EXTENSIONS, sniff

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHINESE_ALIASES = frozenset({"gb2312", "gbk", "x-gbk", "cp936", "ms936", "gb_2312-80", "euc-cn", "csgb2312", "gb18030"})


@dataclass(frozen=True)
class Attachment:
    """One attached file. ``origin`` is ``"attachment"``, ``"inline"`` or ``"forwarded:N"`` (``"forwarded:1.2"``
    for the second message forwarded inside the first)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    sha256: str
    size: int
    origin: str
    truncated: bool = False  # its body ended early (a mail cut short: bad base64, or no closing boundary after it)


@dataclass
class InboundMessage:
    """A decoded message: headers in Unicode, the text body, every attachment, and what could not be read."""

    message_id: str | None
    subject: str
    sender_name: str
    sender_addr: str
    date: datetime | None
    body_text: str
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # what is wrong with the MIME structure as a whole, for the sender: no_boundary (a multipart without its
    # boundary), too_deep (parts nested too deep), truncated (the closing boundary never came), unparseable
    structure: str | None = None


def normalise_charset(charset: str | None) -> str | None:
    """Python codec name for a MIME charset label; gb2312/gbk and friends become gb18030."""
    if not charset:
        return None
    cs = charset.strip().strip('"').lower()
    if cs in CHINESE_ALIASES:
        return "gb18030"
    if cs in ("utf8", "unicode-1-1-utf-8"):
        return "utf-8"
    return cs


def decode_bytes(data: bytes, charset: str | None, problems: list[str] | None = None, what: str = "text") -> str:
    """Decode bytes with a MIME charset label, falling back to UTF-8 then GB18030; never raises."""
    tried: list[str] = []
    cs = normalise_charset(charset)
    for codec in ([cs] if cs else []) + ["utf-8", "gb18030"]:
        if codec in tried:
            continue
        tried.append(codec)
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    if problems is not None:
        problems.append(f"{what}: undecodable bytes (charset {charset!r}); replaced")
    return data.decode(cs if cs and _codec_exists(cs) else "gb18030", errors="replace")


def _codec_exists(codec: str | None) -> bool:
    if not codec:
        return False
    try:
        "".encode(codec)
    except (LookupError, ValueError):
        return False
    return True


def raw_to_text(value: str, problems: list[str] | None = None, what: str = "header") -> str:
    """Undo the parser's surrogate escapes: raw 8-bit header bytes are decoded as UTF-8, else GB18030."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return decode_bytes(raw, None, problems, what)


_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word_payload(encoding: str, payload: str) -> bytes:
    if encoding.lower() == "b":
        clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        if len(clean) % 4 == 1:  # a lone trailing character carries no whole byte
            clean = clean[:-1]
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_words(text: str, problems: list[str] | None = None, what: str = "header") -> str:
    """Decode RFC 2047 encoded-words anywhere in ``text`` (also inside quoted parameters).

    Whitespace between adjacent encoded-words is dropped, and adjacent words of the same charset are
    joined as bytes before decoding, so a character cut between two words comes out whole.
    """
    text = raw_to_text(text, problems, what)
    text = re.sub(r"\r?\n[ \t]+", " ", text)
    pieces: list[tuple[str | None, str | bytes]] = []  # (charset or None for literal text, value)
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        literal = text[pos : match.start()]
        if literal and not (literal.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, literal))
        charset = match.group(1).split("*", 1)[0]  # drop RFC 2231 language tag
        data = _decode_word_payload(match.group(2), match.group(3))
        cs = normalise_charset(charset) or "ascii"
        if pieces and pieces[-1][0] == cs:
            prev = pieces[-1][1]
            assert isinstance(prev, bytes)
            pieces[-1] = (cs, prev + data)
        else:
            pieces.append((cs, data))
        pos = match.end()
    if pos < len(text):
        pieces.append((None, text[pos:]))
    out: list[str] = []
    for piece_cs, value in pieces:
        if piece_cs is None:
            assert isinstance(value, str)
            out.append(value)
        else:
            assert isinstance(value, bytes)
            out.append(decode_bytes(value, piece_cs, problems, what))
    return "".join(out)


def split_params(value: str) -> tuple[str, list[tuple[str, str, bool]]]:
    """Split a Content-Type/Content-Disposition value into its main value and ``(name, value, quoted)``."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    main = parts[0].strip().lower()
    params: list[tuple[str, str, bool]] = []
    for part in parts[1:]:
        if "=" not in part:
            continue
        key, _, val = part.partition("=")
        key = key.strip().lower()
        val = val.strip()
        is_quoted = len(val) >= 2 and val[0] == '"' and val[-1] == '"'
        if is_quoted:
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        elif val.startswith('"'):
            val = val[1:]
        params.append((key, val, is_quoted))
    return main, params


def _rfc2231(params: list[tuple[str, str, bool]], name: str) -> tuple[str | None, bytes] | None:
    """Collect ``name*`` / ``name*0*`` ... into (charset, bytes); None when absent."""
    segments: dict[int, tuple[str, bool]] = {}
    for key, val, _ in params:
        if key == f"{name}*":
            segments[0] = (val, True)
        else:
            m = re.fullmatch(rf"{re.escape(name)}\*(\d+)(\*?)", key)
            if m:
                segments[int(m.group(1))] = (val, m.group(2) == "*")
    if not segments:
        return None
    charset: str | None = None
    data = b""
    run = ""  # consecutive encoded segments are joined before unquoting: a split may cut a %XX escape
    for i, index in enumerate(sorted(segments)):
        val, encoded = segments[index]
        if encoded:
            if i == 0 and val.count("'") >= 2:
                charset, _lang, val = val.split("'", 2)
            run += val
        else:
            data += unquote_to_bytes(run) + raw_to_text(val).encode("utf-8")
            run = ""
    return charset or None, data + unquote_to_bytes(run)


def param_value(params: list[tuple[str, str, bool]], name: str, problems: list[str] | None = None) -> str | None:
    """Decoded value of a parameter: RFC 2231 first, then the plain value with encoded-words decoded."""
    collected = _rfc2231(params, name)
    if collected is not None:
        charset, data = collected
        return decode_bytes(data, charset, problems, f"parameter {name}*")
    for key, val, _ in params:
        if key == name:
            return decode_words(val, problems, f"parameter {name}")
    return None


def _raw_header(msg: email.message.Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Rough plain text of an HTML body."""
    parser = _TextOfHtml()
    parser.feed(html)
    text = "".join(parser.out)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def safe_filename(name: str) -> str:
    """Keep only the last path component and drop control characters."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name if name.strip(". ") else ""


def generated_name(content_type: str, data: bytes, index: int) -> str:
    """A name for an attachment that came without one, from its real type or its declared type."""
    kind = sniff(data)
    ext = EXTENSIONS.get(kind) or mimetypes.guess_extension(content_type) or ".bin"
    return f"attachment-{index}{ext}"


class _Walker:
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.attachments: list[Attachment] = []
        self.plain: str | None = None
        self.html: str | None = None
        self.unnamed = 0
        self.forward_count: dict[str, int] = {}
        self.structure: str | None = None

    def header_params(self, part: email.message.Message, header: str) -> tuple[str, list[tuple[str, str, bool]]]:
        raw = _raw_header(part, header)
        if raw is None:
            return "", []
        return split_params(raw_to_text(raw, self.problems, header))

    def walk(self, part: email.message.Message, origin: str, forwarded_path: str, depth: int = 0) -> None:
        if depth > 30:
            self.problems.append("MIME nesting too deep; rest skipped")
            self.structure = "too_deep"
            return
        ctype, ct_params = self.header_params(part, "Content-Type")
        ctype = ctype or "text/plain"
        disposition, cd_params = self.header_params(part, "Content-Disposition")
        if ctype.startswith("multipart/"):
            payload = part.get_payload()
            if isinstance(payload, list):
                before_last = len(self.attachments)
                for sub in payload:
                    if isinstance(sub, email.message.Message):
                        before_last = len(self.attachments)
                        self.walk(sub, origin, forwarded_path, depth + 1)
                if any(type(d).__name__ == "CloseBoundaryNotFoundDefect" for d in part.defects):
                    self.structure = self.structure or "truncated"
                    last = payload[-1] if payload else None
                    if (isinstance(last, email.message.Message) and not last.is_multipart()
                            and len(self.attachments) > before_last):
                        # the mail ends inside its last part: a cut on a base64 line end still decodes cleanly,
                        # so the missing closing boundary is what says that this file is incomplete
                        self.attachments[-1] = replace(self.attachments[-1], truncated=True)
            else:
                self.problems.append(f"{ctype} without parts (missing boundary?)")
                self.structure = self.structure or "no_boundary"
            return
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if not isinstance(inner, email.message.Message):
                self.problems.append("message/rfc822 part without a message")
                return
            inner = self._undo_transfer_encoding(part, inner)
            n = self.forward_count.get(forwarded_path, 0) + 1
            self.forward_count[forwarded_path] = n
            path = f"{forwarded_path}.{n}" if forwarded_path else str(n)
            self.walk(inner, f"forwarded:{path}", path, depth + 1)
            return
        filename = param_value(cd_params, "filename", self.problems) or param_value(ct_params, "name", self.problems)
        is_attachment = disposition == "attachment" or bool(filename)
        data = self._payload(part, ctype)
        truncated = any(type(d).__name__.startswith("InvalidBase64") for d in part.defects)
        if not is_attachment and ctype in ("text/plain", "text/html"):
            text = decode_bytes(data, param_value(ct_params, "charset"), self.problems, f"{ctype} body")
            if origin == "attachment" or origin == "inline":
                if ctype == "text/plain" and self.plain is None:
                    self.plain = text
                elif ctype == "text/html" and self.html is None:
                    self.html = text
            return
        name = safe_filename(filename) if filename else ""
        if not name:
            self.unnamed += 1
            name = generated_name(ctype, data, self.unnamed)
            self.problems.append(f"attachment without a file name ({ctype}); named {name}")
        own_origin = origin
        if origin == "attachment" and disposition == "inline" and not filename:
            own_origin = "inline"
        self.attachments.append(
            Attachment(name, ctype, data, hashlib.sha256(data).hexdigest(), len(data), own_origin, truncated)
        )

    def _undo_transfer_encoding(
        self, part: email.message.Message, inner: email.message.Message
    ) -> email.message.Message:
        """Some clients base64-encode a forwarded message; the parser then reads the base64 as a message."""
        cte = (_raw_header(part, "Content-Transfer-Encoding") or "").strip().lower()
        if cte not in ("base64", "quoted-printable"):
            return inner
        text = inner.as_bytes(policy=email.policy.compat32.clone(linesep="\n"))
        try:
            decoded = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", text)) if cte == "base64" else (
                quopri.decodestring(text)
            )
        except (binascii.Error, ValueError):
            self.problems.append("forwarded message: undecodable transfer encoding")
            return inner
        return email.message_from_bytes(decoded, policy=email.policy.compat32)

    def _payload(self, part: email.message.Message, ctype: str) -> bytes:
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:  # noqa: BLE001 - a broken part must not stop the message
            self.problems.append(f"{ctype}: payload unreadable ({type(exc).__name__})")
            return b""
        for defect in part.defects:
            self.problems.append(f"{ctype}: {type(defect).__name__}")
        if isinstance(data, bytes):
            return data
        return b""


def parse_message(raw: bytes) -> InboundMessage:
    """Decode a raw RFC 5322 message; never raises on malformed input (see ``problems``)."""
    problems: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but never raise
        # RecursionError: parts nested thousands deep (the parser recurses per level)
        return InboundMessage(None, "", "", "", None, "", [], [f"unparseable message ({type(exc).__name__})"],
                              structure="too_deep" if isinstance(exc, RecursionError) else "unparseable")
    for defect in msg.defects:
        problems.append(f"message: {type(defect).__name__}")
    subject = decode_words(_raw_header(msg, "Subject") or "", problems, "Subject").strip()
    sender_name, sender_addr = sender_display(msg, problems)
    message_id = (_raw_header(msg, "Message-ID") or "").strip() or None
    date = _parse_date(_raw_header(msg, "Date"), problems)
    walker = _Walker(problems)
    try:
        walker.walk(msg, "attachment", "")
    except Exception as exc:  # noqa: BLE001 - keep what was read so far
        problems.append(f"MIME structure unreadable ({type(exc).__name__}); partial result")
        walker.structure = walker.structure or ("too_deep" if isinstance(exc, RecursionError) else "unparseable")
    body = walker.plain if walker.plain is not None else html_to_text(walker.html or "")
    body = body.replace("\r\n", "\n")
    return InboundMessage(
        message_id=message_id,
        subject=subject,
        sender_name=sender_name,
        sender_addr=sender_addr,
        date=date,
        body_text=body,
        attachments=walker.attachments,
        problems=problems,
        structure=walker.structure,
    )


def sender_display(msg: email.message.Message, problems: list[str] | None = None) -> tuple[str, str]:
    """(display name, address) of the From header, names decoded (encoded-words or raw GBK bytes)."""
    raw = _raw_header(msg, "From")
    if raw is None:
        if problems is not None:
            problems.append("no From header")
        return "", ""
    text = re.sub(r"\r?\n[ \t]+", " ", raw_to_text(raw, problems, "From"))
    name, addr = email.utils.parseaddr(text)
    if not addr:
        m = re.search(r"<([^<>@\s]+@[^<>\s]+)>", text) or re.search(r"([\w.+-]+@[\w.-]+)", text)
        addr = m.group(1) if m else ""
        name = text[: m.start()].strip().strip('"') if m else text.strip()
    return decode_words(name, problems, "From").strip().strip('"').strip(), addr.strip().lower()


def format_sender(name: str, addr: str) -> str:
    """``张三 <zhangsan@example.cn>`` (or just the address)."""
    return f"{name} <{addr}>" if name else addr


def _parse_date(value: str | None, problems: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        problems.append("Date header unreadable")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed
