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

from award.choices import normalize_choice  # the notice's word for a synonym (初级中学 -> 初中)
from award.forms.spec import (
    FormError,
    FormSpec,
    all_forms,
    applicant_key,
    applicant_name,
    form_by_title,
    form_spec,
    is_label,
    lookup_label,
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
_CHECK_MARKS = "☑■√✓✔☒▣⊠"
NOT_FOUND = "表中未找到该栏目"
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
    missing: list[str] = field(default_factory=list)  # keys whose label is nowhere in the form

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
            "missing": [{"field": k, "label": form_spec(self.form_id).field(k).label} for k in self.missing],
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
    found = _DECLARATION_S.search(data.decode(encoding, errors="replace"))
    return found.group(1).upper() if found else None


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

# Check boxes inserted with Word's Symbol dialog are w:sym elements in a symbol font, not text.
_SYMBOLS = {
    ("wingdings 2", "f052"): "☑", ("wingdings 2", "f054"): "☒", ("wingdings 2", "f050"): "✓",
    ("wingdings 2", "f0a3"): "☐", ("wingdings 2", "f02a"): "☐", ("wingdings 2", "f0a2"): "☐",
    ("wingdings", "f0fe"): "☑", ("wingdings", "f0fd"): "☒", ("wingdings", "f0fc"): "✓",
    ("wingdings", "f078"): "☒", ("wingdings", "f0a8"): "☐", ("wingdings", "f06f"): "☐",
}


def _symbol(el: etree._Element) -> str:
    font = (el.get(f"{W}font") or "").lower()
    char = (el.get(f"{W}char") or "").lower()
    if len(char) == 4 and not char.startswith("f0"):
        char = "f0" + char[2:]
    return _SYMBOLS.get((font, char), "")


def _para_text(p: etree._Element) -> str:
    out: list[str] = []
    for el in p.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr", f"{W}sym"):
        if el.tag == f"{W}t":
            out.append(el.text or "")
        elif el.tag == f"{W}tab":
            out.append("\t")
        elif el.tag == f"{W}sym":
            out.append(_symbol(el))
        else:
            out.append("\n")
    return "".join(out)


def _cell_text(tc: etree._Element) -> str:
    return "\n".join(_para_text(p) for p in tc.iter(f"{W}p")).strip()


_ROW_CELLS = etree.XPath(
    "./w:tc | ./w:sdt/w:sdtContent/w:tc | ./w:customXml/w:tc",
    namespaces={"w": W[1:-1]},
)
_FREE_PARAGRAPHS = etree.XPath("//w:body//w:p[not(ancestor::w:tc)]", namespaces={"w": W[1:-1]})


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, first grid column and width; ``covered`` for the continuation of a merge."""

    text: str
    col: int
    span: int = 1
    covered: bool = False


def _grid_int(el: etree._Element | None, default: int) -> int:
    try:
        return max(int(el.get(f"{W}val", default)), 1) if el is not None else default
    except ValueError:
        return default


def docx_rows(root: etree._Element) -> list[list[Cell]]:
    """Every table row of a document in order (tables split by a page break simply follow each other)."""
    rows: list[list[Cell]] = []
    for tr in root.iter(f"{W}tr"):
        before = tr.find(f"{W}trPr/{W}gridBefore")
        col = _grid_int(before, 0) if before is not None else 0
        cells: list[Cell] = []
        for tc in _ROW_CELLS(tr):
            span = _grid_int(tc.find(f"{W}tcPr/{W}gridSpan"), 1)
            vmerge = tc.find(f"{W}tcPr/{W}vMerge")
            covered = vmerge is not None and vmerge.get(f"{W}val", "continue") != "restart"
            cells.append(Cell(_cell_text(tc), col, span, covered))
            col += span
        rows.append(cells)
    return rows


def docx_paragraphs(root: etree._Element) -> list[str]:
    """The texts of the paragraphs outside tables (title, cover page, declaration), in order."""
    return [_para_text(p) for p in _FREE_PARAGRAPHS(root)]


# --------------------------------------------------------------------------- finding labels and values


@dataclass(frozen=True)
class Found:
    """A label's value as found, and the rest of its row up to the next label (check boxes spread over cells)."""

    value: str
    tail: str = ""


_BLANK = re.compile(r"^[\s_＿.．…]*$")


def _clean(value: str) -> str:
    """A value as written; a line of underscores (an unfilled blank) is empty."""
    value = value.strip()
    return "" if _BLANK.match(value) else value


def _split_inline(text: str) -> tuple[str, str] | None:
    """``单位名称：某某公司`` -> (normalised label, value) when the left part is a known label."""
    m = _COLON.search(text)
    if m is None:
        return None
    label, value = normalize_label(text[: m.start()]), _clean(text[m.end() :])
    return (label, value) if is_label(label) else None


def _labelled(text: str) -> bool:
    """A cell that is a label, or a ``label：value`` cell (never another label's value)."""
    return is_label(normalize_label(text)) or _split_inline(text) is not None


def _below(rows: list[list[Cell]], r: int, cell: Cell) -> Cell | None:
    """The cell under ``cell`` in the next row (same first grid column), unless it continues a merge."""
    if r + 1 >= len(rows):
        return None
    for other in rows[r + 1]:
        if other.col == cell.col:
            return None if other.covered else other
        if other.col > cell.col:
            return None
    return None


def _cell_label(rows: list[list[Cell]], r: int, norms: list[str], i: int) -> tuple[str, int] | None:
    """The label starting at cell ``i`` of row ``r`` and the index of its last cell, or None.

    The cell alone, the cell with its right neighbour, or the cell with the one below it.
    """
    row = rows[r]
    if is_label(norms[i]):
        return norms[i], i
    if i + 1 < len(row) and norms[i + 1] and not is_label(norms[i + 1]) and is_label(norms[i] + norms[i + 1]):
        return norms[i] + norms[i + 1], i + 1
    under = _below(rows, r, row[i])
    if under is not None:
        under_norm = normalize_label(under.text)
        if not is_label(under_norm) and is_label(norms[i] + under_norm):
            return norms[i] + under_norm, i
    return None


def _value_right(row: list[Cell], norms: list[str], i: int, last: int, label: str) -> tuple[str | None, list[str]]:
    """The first value right of a label (cells ``i``..``last``) and the texts up to the next label."""
    value: str | None = None
    tail: list[str] = []
    for k in range(last + 1, len(row)):
        if row[k].covered or norms[k] in (label, norms[i]):
            continue  # the continuation or a duplicated cell of a merged label
        if is_label(norms[k]) or _split_inline(row[k].text):
            break
        if value is None:
            value = _clean(row[k].text)
        tail.append(row[k].text)
    return value, tail


def _value_below(
    rows: list[list[Cell]],
    r: int,
    norms: list[str],
    i: int,
    label: str,
    labels_only: bool,
    found: tuple[str | None, list[str]],
) -> tuple[str | None, list[str]]:
    """The value in the row below when the label has none to its right (or the row holds only labels)."""
    value, tail = found
    heading = all(n in ("", label, norms[i]) for j, n in enumerate(norms) if j != i)
    if not value and r + 1 < len(rows) and heading:
        below = [c for c in rows[r + 1] if c.text.strip() and not c.covered]
        if below and not any(_labelled(c.text) for c in below):
            return _clean(below[0].text), [c.text for c in below]
    elif value is None or (not value and labels_only):  # a row of labels: the values are below
        under = _below(rows, r, rows[r][i])
        if under is not None and not _labelled(under.text):
            return _clean(under.text), [under.text]
    return value, tail


def collect(rows: list[list[Cell]], paragraphs: list[str]) -> dict[str, Found]:
    """Normalised label -> value for every labelled cell of the rows, and ``label：value`` paragraphs.

    A label is a cell whose text is a known label or synonym, two neighbouring cells whose texts together
    are one (across or down), or the left part of ``label：value``. Its value is the next cell to the right
    with different text (duplicated cells of a merge are skipped); when that is another label, or the label
    stands alone in its row, the value is in the row below (same column, or a full-width row without labels).
    The first non-empty value of a label wins.
    """
    found: dict[str, Found] = {}

    def put(label: str, value: str, tail: str = "") -> None:
        current = found.get(label)
        if current is None or (not current.value and value):
            found[label] = Found(value, tail or value)

    for r, row in enumerate(rows):
        norms = [normalize_label(c.text) for c in row]
        labels_only = sum(map(is_label, norms)) >= 2 and all(not n or is_label(n) for n in norms)
        for i, cell in enumerate(row):
            if cell.covered or not norms[i]:
                continue
            hit = _cell_label(rows, r, norms, i)
            if hit is None:
                inline = _split_inline(cell.text)
                if inline is not None:
                    put(*inline)
                continue
            label, last = hit
            right = _value_right(row, norms, i, last, label)
            value, tail = _value_below(rows, r, norms, i, label, labels_only, right)
            put(label, value or "", " ".join(tail))
    for text in paragraphs:
        inline = _split_inline(text)
        if inline is not None:
            put(*inline)
    return found


def identify(paragraphs: list[str], found: dict[str, Found], name: str) -> FormSpec:
    """The form: by the category words of its title (also a title over several lines), else by its labels."""
    texts = [t for t in paragraphs if t.strip()]
    for i, text in enumerate(texts[:60]):
        if "中国质量奖" not in normalize_label(text):
            continue
        for j in range(i, min(i + 5, len(texts))):
            spec = form_by_title("".join(texts[i : j + 1]))
            if spec is not None:
                return spec
    best: tuple[int, str] | None = None
    for spec in all_forms().values():
        keys = {k for label in found if (k := lookup_label(spec.form_id, label)) is not None}
        score = 2 * len(keys) - len(spec.fields)
        if len(keys) >= 3 and (best is None or score > best[0]):
            best = (score, spec.form_id)
    if best is None:
        raise FormError("无法识别申报表类型（未找到标题或已知的字段标签）", file=name)
    return form_spec(best[1])


# --------------------------------------------------------------------------- field checks


_BOXES = "☐□▢○◯"


def _choice(value: str, options: tuple[str, ...]) -> str | None:
    """The option a value picks: typed (``民营企业``), or ticked among check boxes (``☐是 ☑否``, ``是(√)否( )``).

    Boxes stand before their options when the text starts with one, else after them. Check boxes with no
    option ticked give ``""`` (unanswered); several ticked, or an unknown text, None.
    """
    norm = normalize_label(value)
    boxes = _CHECK_MARKS + _BOXES
    if any(m in norm for m in _CHECK_MARKS):
        first_box = min(i for i, ch in enumerate(norm) if ch in boxes)
        first_option = min((i for o in options if (i := norm.find(normalize_label(o))) >= 0), default=len(norm))
        marks_before = first_box < first_option
        picked: list[str] = []
        for option in sorted(options, key=len, reverse=True):
            opt = normalize_label(option)
            start = norm.find(opt)
            while start >= 0:
                end = start + len(opt)
                mark = norm[start - 1 : start] if marks_before else norm[end : end + 2].lstrip("([")[:1]
                if mark and mark in _CHECK_MARKS and not any(opt in normalize_label(p) for p in picked):
                    picked.append(option)
                    break
                start = norm.find(opt, start + 1)
        return picked[0] if len(picked) == 1 else None
    if any(b in norm for b in _BOXES) and not any(normalize_label(o) == norm for o in options):
        return ""  # only empty boxes: not answered
    for option in options:
        if normalize_label(option) == norm:
            return option
    starts = sorted((o for o in options if norm.startswith(normalize_label(o))), key=len, reverse=True)
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
        if picked == "":
            return "", ("必填项未勾选" if fs.required else None)
        picked = picked or _choice(normalize_choice(key, value), fs.options)
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
    rows = docx_rows(root)
    paragraphs = docx_paragraphs(root)
    return parse_cells(rows, paragraphs, name=name)


def _one_text(row: list[Cell]) -> str | None:
    texts = {c.text for c in row if c.text.strip()}
    return next(iter(texts)) if len(texts) == 1 else None


def parse_cells(rows: list[list[Cell]], paragraphs: list[str], *, name: str) -> ParsedForm:
    """Parse a form from its table rows and free paragraphs (the common part of the Word and PDF readers)."""
    titles = paragraphs + [t for row in rows if (t := _one_text(row)) is not None]
    found = collect(rows, paragraphs)
    spec = identify(titles, found, name)
    raw: dict[str, Found] = {}
    for label, seen in found.items():
        key = lookup_label(spec.form_id, label)
        if key is not None and (key not in raw or (not raw[key].value and seen.value)):
            raw[key] = seen
    fields: dict[str, str] = {}
    problems: list[FieldProblem] = []
    missing: list[str] = []
    for fs in spec.fields:
        hit = raw.get(fs.key)
        if hit is None:
            missing.append(fs.key)
            fields[fs.key] = ""
            if fs.required:
                problems.append(FieldProblem(fs.key, fs.label, NOT_FOUND))
            continue
        text = hit.value
        if fs.type == "choice" and any(m in normalize_label(hit.tail) for m in _CHECK_MARKS.casefold() + _BOXES):
            text = hit.tail  # check boxes: the options may stand in several cells
        value, problem = check_field(spec, fs.key, text)
        fields[fs.key] = value
        if problem:
            problems.append(FieldProblem(fs.key, fs.label, problem))
    return ParsedForm(spec.form_id, spec.category, fields, problems, missing)
