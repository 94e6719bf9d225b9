"""Reading a filled form (.docx) back into fields, by label text rather than cell position.

Untrusted files are screened first (``screen_docx``): not a zip, macro parts (``vbaProject.bin``,
macro-enabled content types), any XML part declaring a DOCTYPE or ENTITY, oversized parts, or a
missing ``word/document.xml`` raise ``FormError`` naming the file. ``word/document.xml`` is then
parsed with lxml with entity resolution, DTD loading and network access switched off.

Values are found by label: for every table cell whose normalised text (NFKC, no spaces, colons or
asterisks) is a known label, the value is the next cell in the row with different text (duplicated
cells from merges are skipped); a label alone in its row takes its value from the next row. A cell
like ``单位名称：某某公司`` is also understood. Typed fields are checked with ``award.identity`` and
reported as problems, never exceptions.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from award.forms.spec import (
    FormError,
    FormSpec,
    all_forms,
    all_labels,
    applicant_key,
    applicant_name,
    form_spec,
    label_index,
    normalize_label,
)
from award.identity import (
    parse_date,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_phone,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MAX_DOCX_BYTES = 50 * 1024 * 1024
MAX_PART_BYTES = 20 * 1024 * 1024
MAX_TOTAL_XML_BYTES = 100 * 1024 * 1024
_DECLARATION_B = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION_S = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_CHECK_MARKS = "☑■√✓✔☒▣"
_COLON = re.compile(r"[:：]")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


@dataclass(frozen=True)
class FieldProblem:
    """A problem with one field: key, its Chinese label, and a message in Chinese."""

    field: str
    label: str
    message: str


@dataclass
class ParsedForm:
    """A parsed form: which form it is, the field values (by key) and the problems found."""

    form_id: str
    category: str
    fields: dict[str, str]
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Applicant name (organisation, team or person)."""
        return applicant_name(self.form_id, self.fields)

    @property
    def key(self) -> str:
        """Applicant identity key (credit code, ``code/team`` or ID number)."""
        return applicant_key(self.form_id, self.fields)

    def as_dict(self) -> dict[str, object]:
        return {
            "form_id": self.form_id,
            "category": self.category,
            "fields": dict(self.fields),
            "problems": [{"field": p.field, "label": p.label, "message": p.message} for p in self.problems],
        }


# --------------------------------------------------------------------------- screening


def _declaration(data: bytes) -> str | None:
    """``DOCTYPE`` / ``ENTITY`` if the XML part declares one (in UTF-8, UTF-16 or UTF-32), else None."""
    head = data[:4]
    encoding = None
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif head in (b"<\x00?\x00", b"\x00<\x00?"):
        encoding = "utf-16-le" if head[0] else "utf-16-be"
    elif head in (b"<\x00\x00\x00", b"\x00\x00\x00<"):
        encoding = "utf-32-le" if head[0] else "utf-32-be"
    if encoding is None:
        m = _DECLARATION_B.search(data)
        return m.group(1).decode().upper() if m else None
    m = _DECLARATION_S.search(data.decode(encoding, errors="replace"))
    return m.group(1).upper() if m else None


def screen_docx(data: bytes, name: str) -> bytes:
    """Check an untrusted .docx and return its ``word/document.xml``; raise ``FormError`` otherwise."""
    if len(data) > MAX_DOCX_BYTES:
        raise FormError(f"文件过大（超过 {MAX_DOCX_BYTES // 1024 // 1024} MB）", file=name)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise FormError("文件是旧版 Word (.doc) 或加密文档，请另存为 .docx 后重新提交", file=name)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FormError("不是有效的 .docx 文件（无法作为 ZIP 压缩包打开）", file=name) from None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        for info in infos:
            lower = info.filename.lower()
            if lower.endswith("vbaproject.bin") or lower.endswith("vbadata.xml"):
                raise FormError("文件包含宏（vbaProject.bin），不予接收，请另存为不含宏的 .docx", file=name)
            if info.flag_bits & 0x1:
                raise FormError("文件部件已加密，无法读取", file=name)
        if "word/document.xml" not in names:
            raise FormError("不是有效的 .docx 文件（缺少 word/document.xml）", file=name)
        total = 0
        document = b""
        for info in infos:
            lower = info.filename.lower()
            if not lower.endswith((".xml", ".rels")):
                continue
            if info.file_size > MAX_PART_BYTES:
                raise FormError(f"文件部件 {info.filename} 过大", file=name)
            total += info.file_size
            if total > MAX_TOTAL_XML_BYTES:
                raise FormError("文件解压后过大（疑似压缩炸弹）", file=name)
            try:
                part = zf.read(info)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
                raise FormError(f"文件已损坏（无法解压 {info.filename}）", file=name) from None
            decl = _declaration(part)
            if decl:
                raise FormError(f"文件部件 {info.filename} 含有 {decl} 声明，疑似 XML 实体攻击，不予接收", file=name)
            if lower == "[content_types].xml" and b"macroenabled" in part.lower():
                raise FormError("文件是启用宏的 Word 文档（.docm），不予接收", file=name)
            if info.filename == "word/document.xml":
                document = part
    return document


# --------------------------------------------------------------------------- reading cells


def _para_text(p: etree._Element) -> str:
    out: list[str] = []
    for el in p.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"):
        if el.tag == f"{W}t":
            out.append(el.text or "")
        elif el.tag == f"{W}tab":
            out.append("\t")
        else:
            out.append("\n")
    return "".join(out)


def _cell_text(tc: etree._Element) -> str:
    return "\n".join(_para_text(p) for p in tc.iter(f"{W}p")).strip()


_ROW_CELLS = etree.XPath(
    "./w:tc | ./w:sdt/w:sdtContent/w:tc | ./w:customXml/w:tc",
    namespaces={"w": W[1:-1]},
)


def _row_cells(tr: etree._Element) -> list[str]:
    return [_cell_text(tc) for tc in _ROW_CELLS(tr)]


def _split_inline(text: str, labels: frozenset[str]) -> tuple[str, str] | None:
    """``单位名称：某某公司`` -> (normalised label, value) when the left part is a known label."""
    m = _COLON.search(text)
    if m is None:
        return None
    label, value = normalize_label(text[: m.start()]), text[m.end() :].strip()
    return (label, value) if label in labels and value else None


def _collect(root: etree._Element) -> tuple[list[str], dict[str, str]]:
    """Top-level paragraph texts, and normalised label -> value for every labelled cell."""
    labels = all_labels()
    paragraphs: list[str] = []
    body = root.find(f"{W}body")
    if body is not None:
        for p in body.iterchildren(f"{W}p"):
            paragraphs.append(_para_text(p))
    found: dict[str, str] = {}
    rows = [_row_cells(tr) for tr in root.iter(f"{W}tr")]
    for r, cells in enumerate(rows):
        norms = [normalize_label(c) for c in cells]
        for i, norm in enumerate(norms):
            if norm not in labels:
                inline = _split_inline(cells[i], labels)
                if inline and not found.get(inline[0]):
                    found[inline[0]] = inline[1]
                continue
            value = None
            for j in range(i + 1, len(cells)):
                if norms[j] == norm:
                    continue  # duplicated cell of a merge
                value = "" if norms[j] in labels else cells[j]
                break
            if not value and r + 1 < len(rows) and all(n in ("", norm) for n in norms):
                # a heading row (label alone): the value is the next row, if that row has no labels
                below = [c for c in rows[r + 1] if c.strip()]
                if below and not {normalize_label(c) for c in below} & labels:
                    value = below[0]
            value = value or ""
            if value and not found.get(norm):
                found[norm] = value
            else:
                found.setdefault(norm, value)
        if len(cells) == 1 or len({c for c in cells if c}) == 1:
            paragraphs.append(next((c for c in cells if c), ""))
    return paragraphs, found


def _identify(paragraphs: list[str], found: dict[str, str], name: str) -> FormSpec:
    specs = list(all_forms().values())
    for text in paragraphs[:40]:
        norm = normalize_label(text)
        if "中国质量奖申报表" not in norm:
            continue
        for spec in specs:
            if norm.endswith(normalize_label(f"申报表（{spec.suffix}）")):
                return spec
    best: tuple[int, str] | None = None
    present = set(found)
    for spec in specs:
        own = {normalize_label(f.label) for f in spec.fields}
        score = len(own & present) - len(own - present)
        if len(own & present) >= 3 and (best is None or score > best[0]):
            best = (score, spec.form_id)
    if best is None:
        raise FormError("无法识别申报表类型（未找到标题或已知的字段标签）", file=name)
    return form_spec(best[1])


# --------------------------------------------------------------------------- field checks


def _choice(value: str, options: tuple[str, ...]) -> str | None:
    norm = normalize_label(value)
    if any(m in norm for m in _CHECK_MARKS):
        picked = [o for o in options if any(f"{m}{o}" in norm for m in _CHECK_MARKS)]
        return picked[0] if len(picked) == 1 else None
    if norm in options:
        return norm
    starts = sorted((o for o in options if norm.startswith(o)), key=len, reverse=True)
    return starts[0] if starts else None


def check_field(spec_form: FormSpec, key: str, raw: str) -> tuple[str, str | None]:
    """Normalise one value and return (value, problem message or None)."""
    fs = spec_form.field(key)
    value = raw.strip()
    if not value:
        return "", ("必填项未填写" if fs.required else None)
    if fs.type == "credit_code":
        v = validate_credit_code(value)
        return v.normalized, v.reason
    if fs.type == "id_number":
        v = validate_id_number(value)
        return v.normalized, v.reason
    if fs.type == "phone":
        v = validate_phone(value)
        return v.normalized, v.reason
    if fs.type == "email":
        v = validate_email(value)
        return v.normalized, v.reason
    if fs.type == "date":
        try:
            return parse_date(value).isoformat(), None
        except ValueError as exc:
            return value, str(exc)
    if fs.type == "choice":
        picked = _choice(value, fs.options)
        return (picked, None) if picked else (value, f"应为以下之一：{'/'.join(fs.options)}")
    if fs.type == "number":
        num = unicodedata.normalize("NFKC", value).replace(",", "").replace(" ", "")
        return (num, None) if _NUMBER.match(num) else (value, "应为数字")
    if fs.type == "long_text":
        return "\n".join(line.strip() for line in value.splitlines()).strip(), None
    return value, None


# --------------------------------------------------------------------------- entry point


def parse_form(source: str | Path | bytes, *, filename: str | None = None) -> ParsedForm:
    """Parse a filled form from a path or bytes; hostile or corrupt files raise ``FormError``."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        name = filename or "<bytes>"
    else:
        name = filename or str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise FormError(f"无法读取文件：{exc.strerror or exc}", file=name) from None
    return parse_document(screen_docx(data, name), filename=name)


def parse_document(document: bytes, *, filename: str) -> ParsedForm:
    """Parse the ``word/document.xml`` that ``screen_docx`` returned (for callers that screened already)."""
    name = filename
    try:
        root = etree.fromstring(document, parser=_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise FormError(f"word/document.xml 不是有效的 XML：{exc}", file=name) from None
    paragraphs, found = _collect(root)
    spec = _identify(paragraphs, found, name)
    index = label_index(spec.form_id)
    raw: dict[str, str] = {}
    for label, value in found.items():
        key = index.get(label)
        if key is not None and not raw.get(key):
            raw[key] = value
    fields: dict[str, str] = {}
    problems: list[FieldProblem] = []
    for fs in spec.fields:
        value, problem = check_field(spec, fs.key, raw.get(fs.key, ""))
        fields[fs.key] = value
        if problem:
            problems.append(FieldProblem(fs.key, fs.label, problem))
    return ParsedForm(spec.form_id, spec.category, fields, problems)
