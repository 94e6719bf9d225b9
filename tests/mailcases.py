"""Builders of raw test messages and archives as Chinese mail clients and Windows tools produce them.

Every function returns bytes. Messages are written by hand (not with ``email``'s generator) because the
point is the non-standard encodings real clients use. The expected decoded names are the module constants.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import zipfile
import zlib
from urllib.parse import quote_from_bytes

CRLF = "\r\n"

# Names with GBK-only characters (not in GB2312): 喆 镕 — labelled gb2312 by the senders anyway.
FOXMAIL_SUBJECT = "中国质量奖申报材料——喆镕精密制造有限公司"
FOXMAIL_SENDER = "王喆镕"
FOXMAIL_FILE = "第五届中国质量奖申报表（组织）-喆镕.docx"
FOXMAIL_BODY = "您好！附件是喆镕公司的申报材料，请查收。"

SPLIT_SUBJECT = "关于报送中国质量奖推荐材料的函（第二批）"
SPLIT_FILE = "质量奖申报材料汇总（盖章版）.zip"
SPLIT_FILE_UTF8 = "质量管理成效证明材料.pdf"

RFC2231_FILE = "中国质量奖个人申报表——质量工匠张三（2023年度）.docx"
RFC2231_FILE_GBK = "喆镕公司质量管理模式简介.pdf"

QQ_FILE = "一线班组申报材料.pdf"

RAW8_SUBJECT = "申报材料补正：喆镕精密"
RAW8_SENDER = "李四"
RAW8_FILE = "补正说明.pdf"

FWD_OUTER_FILE = "推荐意见.pdf"
FWD_INNER_FILES = ("申报书（中小企业）.docx", "公示证明.pdf")
FWD_NESTED_FILE = "单位意见.pdf"
FWD_B64_FILE = "城市推荐函.pdf"

GB18030_BODY = "申请人：𠮷野精工（测试）——喆镕€"
GB2312_QP_BODY = "联系人：王喆，电话另告。"

OUTLOOK_SUBJECT = "答复: 中国质量奖QC小组申报"
OUTLOOK_FILE = "QC小组活动成果报告（2023）.pdf"
OUTLOOK_BODY = "各位好：\n附件为QC小组申报材料。"

GBK_ZIP_NAMES = (
    "申报材料/01-申报表（组织）.pdf",
    "申报材料/证明材料/质量管理体系认证证书.pdf",
    "申报材料/证明材料/喆镕公司营业执照.jpg",
    "说明.txt",
)

# Minimal valid payloads of each type.
PDF_BYTES = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode."


def _b64word(text_bytes: bytes, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text_bytes).decode()}?="


def _qword(text_bytes: bytes, charset: str) -> str:
    body = "".join(
        chr(b) if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) else f"={b:02X}" for b in text_bytes
    )
    return f"=?{charset}?Q?{body}?="


def _b64body(data: bytes) -> str:
    enc = base64.b64encode(data).decode()
    return CRLF.join(enc[i : i + 76] for i in range(0, len(enc), 76))


def _message(headers: list[str], body: str) -> bytes:
    return (CRLF.join(headers) + CRLF + CRLF + body).encode("utf-8")


def docx_bytes(text: str = "申报书", *, table: bool = False) -> bytes:
    """A real .docx made with python-docx."""
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    if table:
        t = document.add_table(rows=2, cols=2)
        t.cell(0, 0).text = "单位名称"
        t.cell(0, 1).text = "喆镕精密制造有限公司"
        t.cell(1, 0).text = "统一社会信用代码"
        t.cell(1, 1).text = "91330100MA0000000X"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def foxmail_gbk_quoted_encoded_words() -> bytes:
    """Foxmail: gb2312-labelled GBK in the subject, the sender name and quoted ``name=``/``filename=``."""
    fname = _b64word(FOXMAIL_FILE.encode("gbk"), "gb2312")
    return _message(
        [
            f"From: \"{_b64word(FOXMAIL_SENDER.encode('gbk'), 'gb2312')}\" <wangzr@zherong.example.cn>",
            "To: cqa@amr.example.gov.cn",
            f"Subject: {_b64word(FOXMAIL_SUBJECT.encode('gbk'), 'gb2312')}",
            "Date: Mon, 10 Jul 2023 09:30:00 +0800",
            "Message-ID: <202307100930001234@zherong.example.cn>",
            "X-Mailer: Foxmail 7.2.25.228[cn]",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="----=_NextPart_64AB1234_0001"',
        ],
        CRLF.join(
            [
                "This is a multi-part message in MIME format.",
                "",
                "------=_NextPart_64AB1234_0001",
                'Content-Type: text/plain; charset="gb2312"',
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(FOXMAIL_BODY.encode("gbk")),
                "",
                "------=_NextPart_64AB1234_0001",
                "Content-Type: application/octet-stream;",
                f'\tname="{fname}"',
                "Content-Disposition: attachment;",
                f'\tfilename="{fname}"',
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(docx_bytes()),
                "",
                "------=_NextPart_64AB1234_0001--",
                "",
            ]
        ),
    )


def _split_words(data: bytes, cuts: list[int], charset: str, q: bool = False) -> str:
    pieces, start = [], 0
    for cut in [*cuts, len(data)]:
        pieces.append(data[start:cut])
        start = cut
    make = _qword if q else _b64word
    return (CRLF + " ").join(make(p, charset) for p in pieces)


def split_encoded_words() -> bytes:
    """One subject and two file names split over several encoded-words at byte boundaries cutting characters."""
    subj = SPLIT_SUBJECT.encode("gbk")
    fname = SPLIT_FILE.encode("gbk")
    fname8 = SPLIT_FILE_UTF8.encode("utf-8")
    return _message(
        [
            "From: =?GBK?B?" + base64.b64encode("省质量协会".encode("gbk")).decode() + "?= <xiehui@example.org.cn>",
            "To: cqa@amr.example.gov.cn",
            f"Subject: {_split_words(subj, [5, 11, 20], 'GBK')}",
            "Date: Tue, 11 Jul 2023 14:02:11 +0800",
            "Message-ID: <split.1@example.org.cn>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="b1"',
        ],
        CRLF.join(
            [
                "--b1",
                "Content-Type: text/plain; charset=GBK",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "".join(f"={b:02X}" for b in "请查收。".encode("gbk")),
                "--b1",
                "Content-Type: application/zip",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment;",
                f' filename="{_split_words(fname, [3, 9, 16], "GBK", q=True)}"',
                "",
                _b64body(gbk_zip()),
                "--b1",
                "Content-Type: application/pdf",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment;",
                f' filename="{_split_words(fname8, [4, 10, 17], "UTF-8")}"',
                "",
                _b64body(PDF_BYTES),
                "--b1--",
                "",
            ]
        ),
    )


def rfc2231_continuations() -> bytes:
    """RFC 2231 ``filename*0*=`` continuations (as Python writes them), UTF-8 and a GBK one cut mid-character."""
    enc = quote_from_bytes(RFC2231_FILE.encode("utf-8"), safe="")
    segs = [enc[i : i + 40] for i in range(0, len(enc), 40)]
    cont = (";" + CRLF).join(
        f" filename*{i}*=" + (f"utf-8''{s}" if i == 0 else s) for i, s in enumerate(segs)
    )
    gbk = RFC2231_FILE_GBK.encode("gbk")
    gsegs = [quote_from_bytes(gbk[:5], safe=""), quote_from_bytes(gbk[5:], safe="")]
    return _message(
        [
            "From: zhangsan@example.cn",
            "To: cqa@amr.example.gov.cn",
            "Subject: =?utf-8?b?" + base64.b64encode("个人申报".encode()).decode() + "?=",
            "Date: Wed, 12 Jul 2023 08:00:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="===============123=="',
        ],
        CRLF.join(
            [
                "--===============123==",
                'Content-Type: text/plain; charset="utf-8"',
                "Content-Transfer-Encoding: 8bit",
                "",
                "见附件",
                "--===============123==",
                "Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment;",
                cont,
                "",
                _b64body(docx_bytes()),
                "--===============123==",
                "Content-Type: application/pdf",
                "Content-Transfer-Encoding: base64",
                f"Content-Disposition: attachment; filename*0*=gbk''{gsegs[0]};",
                f" filename*1*={gsegs[1]}",
                "",
                _b64body(PDF_BYTES),
                "--===============123==--",
                "",
            ]
        ),
    )


def qq_name_only() -> bytes:
    """QQ Mail: the name only in ``Content-Type: name=`` (encoded-word), plus a part with no name at all."""
    return _message(
        [
            "From: \"=?utf-8?B?" + base64.b64encode("赵六".encode()).decode() + "?=\" <123456789@qq.com>",
            "To: cqa@amr.example.gov.cn",
            "Subject: =?utf-8?B?" + base64.b64encode("班组申报".encode()).decode() + "?=",
            "Date: Thu, 13 Jul 2023 20:15:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="----=_NextPart_QQ"',
        ],
        CRLF.join(
            [
                "------=_NextPart_QQ",
                'Content-Type: text/html; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
                "",
                _b64body("<div>请审阅<br>谢谢</div>".encode()),
                "------=_NextPart_QQ",
                f'Content-Type: application/octet-stream; name="=?utf-8?B?{base64.b64encode(QQ_FILE.encode()).decode()}?="',
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment",
                "",
                _b64body(PDF_BYTES),
                "------=_NextPart_QQ",
                "Content-Type: application/pdf",
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(PDF_BYTES + b"%2"),
                "------=_NextPart_QQ--",
                "",
            ]
        ),
    )


def raw_8bit_gbk_header() -> bytes:
    """Raw 8-bit GBK bytes in Subject, From and filename (no encoded-words at all)."""
    head = CRLF.join(
        [
            "From: " + RAW8_SENDER + " <lisi@example.cn>",
            "To: cqa@amr.example.gov.cn",
            "Subject: " + RAW8_SUBJECT,
            "Date: Fri, 14 Jul 2023 10:00:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="raw8"',
            "",
            "--raw8",
            "Content-Type: text/plain; charset=gbk",
            "Content-Transfer-Encoding: 8bit",
            "",
            "补正材料见附件。",
            "--raw8",
            f'Content-Type: application/pdf; name="{RAW8_FILE}"',
            f'Content-Disposition: attachment; filename="{RAW8_FILE}"',
            "Content-Transfer-Encoding: base64",
            "",
        ]
    ).encode("gbk")
    return head + (CRLF + _b64body(PDF_BYTES) + CRLF + "--raw8--" + CRLF).encode("ascii")


def _simple_with_attachments(
    subject: str, boundary: str, files: list[tuple[str, bytes]], extra_parts: list[str] | None = None
) -> str:
    parts = [
        "From: =?gbk?B?" + base64.b64encode("申报单位".encode("gbk")).decode() + "?= <apply@example.cn>",
        "To: city@example.gov.cn",
        "Subject: =?gbk?B?" + base64.b64encode(subject.encode("gbk")).decode() + "?=",
        "Date: Sat, 15 Jul 2023 09:00:00 +0800",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=gbk",
        "Content-Transfer-Encoding: base64",
        "",
        _b64body("原始邮件正文".encode("gbk")),
    ]
    for name, data in files:
        parts += [
            f"--{boundary}",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment; filename="{_b64word(name.encode("gbk"), "gbk")}"',
            "",
            _b64body(data),
        ]
    parts += [f"--{boundary}" if line == "--" else line for line in (extra_parts or [])]
    parts += [f"--{boundary}--", ""]
    return CRLF.join(parts)


def forwarded_with_attachments() -> bytes:
    """A city office forwards the applicant's message (message/rfc822) that itself forwards another one;
    a second forwarded message is base64-encoded. Attachments at every level must come out."""
    nested = _simple_with_attachments("单位意见", "nested", [(FWD_NESTED_FILE, PDF_BYTES + b"%nested")])
    inner = _simple_with_attachments(
        "申报材料",
        "inner",
        [(FWD_INNER_FILES[0], docx_bytes()), (FWD_INNER_FILES[1], PDF_BYTES + b"%pub")],
        extra_parts=["--", "Content-Type: message/rfc822", "", nested],
    )
    b64msg = _simple_with_attachments("推荐函", "b64", [(FWD_B64_FILE, PDF_BYTES + b"%city")])
    return _message(
        [
            "From: =?gb18030?B?" + base64.b64encode("杭州市市场监管局".encode("gb18030")).decode() + "?= <hz@example.gov.cn>",
            "To: cqa@amr.example.gov.cn",
            "Subject: =?gb18030?B?" + base64.b64encode("转发：申报材料".encode("gb18030")).decode() + "?=",
            "Date: Sun, 16 Jul 2023 11:00:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="outer"',
        ],
        CRLF.join(
            [
                "--outer",
                "Content-Type: text/plain; charset=us-ascii",
                "",
                "forwarded",
                "--outer",
                "Content-Type: application/pdf",
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: attachment; filename="{_b64word(FWD_OUTER_FILE.encode("gbk"), "gb2312")}"',
                "",
                _b64body(PDF_BYTES + b"%outer"),
                "--outer",
                "Content-Type: message/rfc822",
                "Content-Disposition: attachment",
                "",
                inner,
                "--outer",
                "Content-Type: message/rfc822",
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(b64msg.encode("ascii")),
                "--outer--",
                "",
            ]
        ),
    )


def gb18030_body() -> bytes:
    """A GB18030 body with four-byte characters, then a gb2312-labelled QP body holding GBK-only characters."""
    qp = "".join(f"={b:02X}" for b in GB2312_QP_BODY.encode("gbk"))
    qp_lines = [qp[i : i + 72] + "=" for i in range(0, len(qp), 72)]
    qp_lines[-1] = qp_lines[-1][:-1]
    return _message(
        [
            "From: test@example.cn",
            "Subject: =?GB18030?B?" + base64.b64encode("正文测试".encode("gb18030")).decode() + "?=",
            "Date: Mon, 17 Jul 2023 09:00:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="alt"',
        ],
        CRLF.join(
            [
                "--alt",
                "Content-Type: text/plain; charset=GB18030",
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(GB18030_BODY.encode("gb18030")),
                "--alt",
                'Content-Type: text/html; charset="gb2312"',
                "Content-Transfer-Encoding: quoted-printable",
                "",
                *qp_lines,
                "--alt--",
                "",
            ]
        ),
    )


def outlook_utf8() -> bytes:
    """Outlook: UTF-8 encoded-words in quoted parameters, multipart/alternative inside multipart/mixed, QP."""
    fname = _b64word(OUTLOOK_FILE.encode(), "utf-8")
    qp = "".join(f"={b:02X}" if b > 126 else chr(b) for b in OUTLOOK_BODY.replace("\n", "\r\n").encode())
    return _message(
        [
            "From: =?utf-8?B?" + base64.b64encode("陈七".encode()).decode() + "?= <chenqi@example.com.cn>",
            "To: \"cqa\" <cqa@amr.example.gov.cn>",
            "Subject: =?utf-8?B?" + base64.b64encode(OUTLOOK_SUBJECT.encode()).decode() + "?=",
            "Thread-Topic: =?utf-8?B?" + base64.b64encode(OUTLOOK_SUBJECT.encode()).decode() + "?=",
            "Date: Tue, 18 Jul 2023 02:30:00 +0000",
            "Message-ID: <ABCDEF0123@EXAMPLE.PROD.OUTLOOK.COM>",
            "Content-Language: zh-CN",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="_004_ABCDEF"',
        ],
        CRLF.join(
            [
                "--_004_ABCDEF",
                'Content-Type: multipart/alternative; boundary="_000_ABCDEF"',
                "",
                "--_000_ABCDEF",
                'Content-Type: text/plain; charset="utf-8"',
                "Content-Transfer-Encoding: quoted-printable",
                "",
                qp,
                "--_000_ABCDEF",
                'Content-Type: text/html; charset="utf-8"',
                "Content-Transfer-Encoding: base64",
                "",
                _b64body("<p>各位好：</p>".encode()),
                "--_000_ABCDEF--",
                "",
                "--_004_ABCDEF",
                f'Content-Type: application/pdf; name="{fname}"',
                f'Content-Description: {fname}',
                f'Content-Disposition: attachment; filename="{fname}"; size={len(PDF_BYTES)};',
                '\tcreation-date="Tue, 18 Jul 2023 02:29:00 GMT";',
                '\tmodification-date="Tue, 18 Jul 2023 02:29:00 GMT"',
                "Content-Transfer-Encoding: base64",
                "",
                _b64body(PDF_BYTES),
                "",
                "--_004_ABCDEF--",
                "",
            ]
        ),
    )


def malformed() -> bytes:
    """Broken on purpose: unknown charset, bad base64, missing closing boundary, bad date."""
    return _message(
        [
            "From: =?x-unknown?B?5byg5LiJ?= <broken@example.cn>",
            "Subject: =?gbk?B?1tDOxA?= =?gbk?Q?=D6=?=",
            "Date: not a date",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="never-closed"',
        ],
        CRLF.join(
            [
                "--never-closed",
                "Content-Type: text/plain; charset=no-such-charset",
                "Content-Transfer-Encoding: base64",
                "",
                "5Lit5paH!!!",
                "--never-closed",
                'Content-Type: application/pdf; name="=?gbk?B?1tDOxA==?=.pdf"',
                "Content-Transfer-Encoding: base64",
                "",
                "JVBERi0xLjQK%%%",
            ]
        ),
    )


# ---------------------------------------------------------------------------------------------- zips

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xEDB88320 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


class _ZipCrypto:
    """Traditional PKWARE (ZipCrypto) encryption, the inverse of ``zipfile``'s decrypter."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for b in password:
            self._update(b)

    def _crc(self, crc: int, b: int) -> int:
        return (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]

    def _update(self, b: int) -> None:
        k0, k1, k2 = self.keys
        k0 = self._crc(k0, b)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = self._crc(k2, k1 >> 24)
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            k = (self.keys[2] | 2) & 0xFFFF
            out.append(b ^ (((k * (k ^ 1)) >> 8) & 0xFF))
            self._update(b)
        return bytes(out)


def build_zip(
    entries: list[tuple[bytes, bytes]],
    *,
    utf8_flag: bool = False,
    deflate: bool = True,
    password: bytes | None = None,
    declared_size: int | None = None,
) -> bytes:
    """Write a zip by hand: raw name bytes (e.g. GBK with the UTF-8 flag clear), optional real ZipCrypto
    encryption, optional lying uncompressed size in the headers."""
    out = io.BytesIO()
    central = []
    for name, data in entries:
        crc = zlib.crc32(data)
        if deflate:
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = comp.compress(data) + comp.flush()
            method = 8
        else:
            body, method = data, 0
        flags = 0x800 if utf8_flag else 0
        if password is not None:
            flags |= 0x1
            crypt = _ZipCrypto(password)
            header = os.urandom(11) + bytes([crc >> 24])
            body = crypt.encrypt(header) + crypt.encrypt(body)
        size = len(data) if declared_size is None else declared_size
        offset = out.tell()
        fields = (20, flags, method, 0, 0x21, crc, len(body), size, len(name), 0)
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields) + name + body)
        central.append(
            struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields[:9], 0, 0, 0, 0, 0o100644 << 16, offset)
            + name
        )
    cd_start = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central), len(cd), cd_start, 0))
    return out.getvalue()


def gbk_zip() -> bytes:
    """A zip made on Chinese Windows: GBK member names, UTF-8 flag clear, nested folders."""
    payloads = [PDF_BYTES, PDF_BYTES + b"%cert", JPEG_BYTES, "材料清单见文件夹。".encode("gbk")]
    entries = [("申报材料/".encode("gbk"), b""), ("申报材料/证明材料/".encode("gbk"), b"")]
    entries += [(n.encode("gbk"), d) for n, d in zip(GBK_ZIP_NAMES, payloads, strict=True)]
    return build_zip(entries)


def utf8_zip(names: list[str], payloads: list[bytes]) -> bytes:
    """A zip with UTF-8 names and the flag set (what zipfile writes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in zip(names, payloads, strict=True):
            zf.writestr(n, d)
    return buf.getvalue()


def zip_bomb(size: int = 20 * 1024 * 1024) -> bytes:
    """One member of ``size`` zero bytes (ratio about 1000:1)."""
    return utf8_zip(["申报书.txt"], [b"\x00" * size])


def lying_zip_bomb() -> bytes:
    """A member whose headers declare 1 KB but whose deflate stream expands to 5 MB."""
    return build_zip([(b"small.txt", b"A" * (5 * 1024 * 1024))], declared_size=1024)


def traversal_zip() -> bytes:
    """Members escaping the target folder, next to one good member."""
    return build_zip(
        [
            (b"../../etc/cron.d/evil", b"x"),
            (b"/etc/passwd", b"x"),
            (b"C:\\Windows\\evil.exe", EXE_BYTES),
            (b"ok\\..\\..\\evil.txt", b"x"),
            ("正常/申报表.pdf".encode(), PDF_BYTES),
        ],
        utf8_flag=True,
    )


ENCRYPTED_PASSWORD = b"123456"


def encrypted_zip() -> bytes:
    """Every member really ZipCrypto-encrypted (password ``123456``), GBK names."""
    return build_zip([("申报书.pdf".encode("gbk"), PDF_BYTES), ("证明.pdf".encode("gbk"), PDF_BYTES)], password=ENCRYPTED_PASSWORD)


def rar_like() -> bytes:
    """The start of a RAR 5 archive."""
    return b"Rar!\x1a\x07\x01\x00" + bytes(range(64))


def _rezip(docx: bytes, replace: dict[str, bytes], add: dict[str, bytes]) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(docx))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for name, data in add.items():
            dst.writestr(name, data)
    return buf.getvalue()


def docm_file() -> bytes:
    """A macro-enabled Word document: vbaProject.bin and the macroEnabled content type."""
    base = docx_bytes("含宏文档")
    ct = zipfile.ZipFile(io.BytesIO(base)).read("[Content_Types].xml")
    ct = ct.replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        b"application/vnd.ms-word.document.macroEnabled.main+xml",
    )
    return _rezip(base, {"[Content_Types].xml": ct}, {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 60})


def entity_docx() -> bytes:
    """A .docx whose document.xml declares entities (billion-laughs style)."""
    base = docx_bytes("实体")
    xml = zipfile.ZipFile(io.BytesIO(base)).read("word/document.xml")
    decl = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<!DOCTYPE w:document [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
    )
    body = xml.split(b"?>", 1)[1].lstrip()
    return _rezip(base, {"word/document.xml": decl + body.replace(b"\xe5\xae\x9e\xe4\xbd\x93", b"&b;")}, {})


def mismatched_pdf() -> bytes:
    """A Windows executable that an applicant (or malware) named ``申报书.pdf``."""
    return EXE_BYTES + b"\x00" * 200


def mixed_zip() -> bytes:
    """An applicant's zip: good files, a macro document, a disguised exe, a rar, nested zips two and three deep."""
    deepest = utf8_zip(["最深.pdf"], [PDF_BYTES])
    level2 = utf8_zip(["第二层.pdf", "第三层.zip"], [PDF_BYTES + b"%2", deepest])
    return utf8_zip(
        ["申报表.docx", "宏.docm", "证明/营业执照.pdf", "附件.rar", "内层.zip", "实体.docx"],
        [docx_bytes(), docm_file(), mismatched_pdf(), rar_like(), level2, entity_docx()],
    )


# ------------------------------------------------------------------------------------ active and broken content


def dde_docx() -> bytes:
    """A .docx with a DDEAUTO field, its instruction split over two runs (as Word writes it)."""
    base = docx_bytes("申报书")
    xml = zipfile.ZipFile(io.BytesIO(base)).read("word/document.xml")
    field = (b'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> DDE</w:instrText>'
             b'</w:r><w:r><w:instrText xml:space="preserve">AUTO c:\\\\windows\\\\system32\\\\cmd.exe "/k calc"'
             b'</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>')
    xml = xml.replace(b"</w:p>", field + b"</w:p>", 1)
    return _rezip(base, {"word/document.xml": xml}, {})


def ole_docx() -> bytes:
    """A .docx carrying an embedded OLE package that holds an executable."""
    return _rezip(docx_bytes("证明材料"), {}, {"word/embeddings/oleObject1.bin": OLE_HEADER + EXE_BYTES})


OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 24


def pdf_with(catalog: bytes) -> bytes:
    """A small, complete PDF whose catalogue dictionary holds ``catalog``."""
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog " + catalog + b" >>\nendobj\n"
            b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


def pdf_javascript() -> bytes:
    """JavaScript run on opening (/OpenAction)."""
    return pdf_with(b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >>")


def pdf_hidden_launch() -> bytes:
    """A /Launch action and embedded files, written with #-escaped names inside a compressed object stream."""
    hidden = b"2 0 << /S /L#61unch /F (cmd.exe) >> << /Emb#65ddedFiles 3 0 R >>"
    body = zlib.compress(hidden)
    return (b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog >>\nendobj\n4 0 obj\n<< /Type /ObjStm /N 2 /First 4 "
            b"/Filter /FlateDecode /Length " + str(len(body)).encode() + b" >>\nstream\n" + body
            + b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def truncated_pdf() -> bytes:
    """A PDF cut before its end (no %%EOF)."""
    return pdf_with(b"/Pages 2 0 R")[:-20]
