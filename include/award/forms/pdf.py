"""PDF copies of forms (and other simple Chinese text documents) with reportlab, and reading form PDFs back.

Text uses reportlab's built-in CID font STSong-Light (no font file needed). PDFs are written with
``invariant=1``: the same input gives byte-identical output.

Reading (``read_pdf_form``) takes the PDFs applicants make (Word's "Save as PDF", WPS, LibreOffice export,
a PDF printer): pypdf extracts the text (none: a scan, no text layer), pdfplumber finds the table cells
from the ruling lines, and the Word reader's label matching (``award.forms.parser.parse_cells``) reads them.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pdfplumber
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from award.forms.parser import Cell, ParsedForm, parse_cells
from award.forms.spec import (
    FormError,
    applicant_key,
    applicant_name,
    declaration_text,
    form_spec,
    is_label,
    normalize_label,
)

FONT = "STSong-Light"
_MARGIN = 56
_COLON = re.compile(r"[:：]")
MIN_TEXT_CHARS = 4  # fewer letters, digits or Chinese characters than this: no usable text layer (a scan)
MAX_FORM_PAGES = 12  # a form's tables are read from its first pages only (evidence may follow)


@lru_cache(maxsize=1)
def _font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Break text into lines that fit ``width`` (character-based: fine for Chinese)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            if line and pdfmetrics.stringWidth(line + ch, FONT, size) > width:
                lines.append(line)
                line = ch
            else:
                line += ch
        lines.append(line)
    return lines


def text_pdf_bytes(
    title: str,
    paragraphs: list[str],
    *,
    size: float = 11,
    signature: list[str] | None = None,
    metadata_title: str | None = None,
) -> bytes:
    """A plain A4 document: centred title, wrapped paragraphs, optional right-aligned signature lines."""
    _font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(metadata_title or title)
    c.setAuthor("")
    c.setCreator("award")
    width, height = A4
    y = height - _MARGIN - 10

    def new_page() -> float:
        c.showPage()
        return float(height - _MARGIN)

    c.setFont(FONT, 16)
    c.drawCentredString(width / 2, y, title)
    y -= 34
    c.setFont(FONT, size)
    leading = size * 1.6
    for para in paragraphs:
        for line in _wrap(para, size, width - 2 * _MARGIN):
            if y < _MARGIN:
                y = new_page()
                c.setFont(FONT, size)
            c.drawString(_MARGIN, y, line)
            y -= leading
        y -= leading * 0.3
    if signature:
        y -= leading
        for line in signature:
            if y < _MARGIN:
                y = new_page()
                c.setFont(FONT, size)
            c.drawRightString(width - _MARGIN, y, line)
            y -= leading
    c.showPage()
    c.save()
    return buf.getvalue()


def render_pdf_copy_bytes(form_id: str, values: dict[str, str], *, edition: str = "第五届") -> bytes:
    """The PDF copy of a filled form: title, one ``标签：值`` line per field, the declaration."""
    spec = form_spec(form_id)
    lines = [f"{f.label}：{values.get(f.key, '') or ''}" for f in spec.fields]
    declaration, signature = declaration_text()
    lines.append("")
    lines.append(declaration)
    return text_pdf_bytes(spec.title(edition), lines, signature=[signature.strip()])


def render_pdf_copy(form_id: str, values: dict[str, str], path: Path, *, edition: str = "第五届") -> None:
    """Write the PDF copy of a filled form to ``path`` (see ``render_pdf_copy_bytes``)."""
    Path(path).write_bytes(render_pdf_copy_bytes(form_id, values, edition=edition))


def _reader(pdf_bytes: bytes, name: str) -> PdfReader:
    """A pypdf reader; a PDF encrypted only against editing (empty user password) is opened, others refused."""
    reader = PdfReader(io.BytesIO(pdf_bytes))
    if reader.is_encrypted and not reader.decrypt(""):
        raise FormError("PDF 已加密，无法读取", file=name)
    return reader


def pdf_text(pdf_bytes: bytes, *, name: str = "<pdf>") -> str:
    """All text of a PDF (pypdf); a broken or password-protected PDF raises ``FormError``."""
    try:
        reader = _reader(pdf_bytes, name)
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except FormError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
        raise FormError(f"无法读取 PDF：{exc}", file=name) from None


def has_text_layer(text: str) -> bool:
    """Whether extracted PDF text is real text: a scan (or glyphs without a Unicode map) gives none."""
    return sum(1 for ch in text if ch.isalnum() and unicodedata.category(ch) != "Co") >= MIN_TEXT_CHARS


@dataclass
class PdfForm:
    """What could be read of a form's PDF: whether it has text, which form it is and its fields."""

    text_layer: bool
    text: str = field(default="", repr=False)
    form: ParsedForm | None = None

    @property
    def form_id(self) -> str | None:
        return self.form.form_id if self.form else None

    @property
    def category(self) -> str | None:
        return self.form.category if self.form else None

    @property
    def fields(self) -> dict[str, str]:
        """The fields whose label was found (values normalised as for the Word form)."""
        if self.form is None:
            return {}
        return {k: v for k, v in self.form.fields.items() if k not in self.form.missing}

    def contains(self, value: str) -> bool:
        """Whether ``value`` is printed somewhere in the PDF (ignoring spaces, line breaks and widths)."""
        needle = _flat(value)
        return bool(needle) and needle in _flat(self.text)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def _cell(text: str | None, col: int) -> Cell:
    if text is None:
        return Cell("", col, 1, covered=True)  # pdfplumber: part of a merged cell
    return Cell("".join(line.strip() for line in text.splitlines()), col)


def _word_rows(page: Any) -> list[list[Cell]]:
    """Rows of a page without ruled tables, from word positions: words on one line are cells (their column is
    their left edge, in points); a line whose words all sit under value cells of the line above (a value
    wrapped in its cell) is joined to them."""
    words = sorted(page.extract_words(x_tolerance=2, y_tolerance=2), key=lambda w: (round(w["top"]), w["x0"]))
    lines: list[list[dict[str, Any]]] = []
    for word in words:
        if lines and abs(lines[-1][0]["top"] - word["top"]) <= 2:
            lines[-1].append(word)
        else:
            lines.append([word])
    rows: list[list[Cell]] = []
    for line in lines:
        line.sort(key=lambda w: w["x0"])
        if any(_COLON.search(w["text"]) for w in line):
            rows.append([Cell(" ".join(w["text"] for w in line), round(line[0]["x0"]))])
            continue
        cells: list[Cell] = []
        end = -1e9
        for w in line:  # words closer than a character's height: one cell ("138 0057 1234")
            gap, height = w["x0"] - end, w["bottom"] - w["top"]
            if cells and gap < height:
                joint = " " if gap > height / 2 else ""
                cells[-1] = Cell(cells[-1].text + joint + w["text"], cells[-1].col)
            else:
                cells.append(Cell(w["text"], round(w["x0"])))
            end = w["x1"]
        previous = rows[-1] if rows else []
        targets = {c.col: i for i, c in enumerate(previous) if not is_label(normalize_label(c.text))}
        places = [next((i for col, i in targets.items() if abs(col - c.col) <= 3), None) for c in cells]
        if previous and not any(is_label(normalize_label(c.text)) for c in cells) and None not in places:
            for cell, i in zip(cells, places, strict=True):
                old = previous[i]  # type: ignore[index]
                previous[i] = Cell(old.text + cell.text, old.col, old.span)  # type: ignore[index]
            continue
        rows.append(cells)
    return rows


def _pdf_rows(pdf_bytes: bytes) -> tuple[list[list[Cell]], list[str]]:
    """Table rows (from the ruling lines Word, WPS and LibreOffice draw) and text lines of the first pages.

    Pages without ruled tables give rows from word positions (``_word_rows``)."""
    rows: list[list[Cell]] = []
    lines: list[str] = []
    with pdfplumber.open(io.BytesIO(pdf_bytes)) as pdf:
        for page in pdf.pages[:MAX_FORM_PAGES]:
            tables = page.extract_tables()
            for table in tables:
                rows.extend([_cell(text, i) for i, text in enumerate(row)] for row in table)
            if not tables:
                rows.extend(_word_rows(page))
            lines.extend(ln for ln in (page.extract_text() or "").splitlines() if ln.strip())
    return rows, lines


def read_pdf_form(pdf_bytes: bytes, *, name: str = "<pdf>") -> PdfForm:
    """Read a form's PDF as applicants make it (Word, WPS, LibreOffice, a PDF printer, or this module).

    Returns whether it has a text layer (a scan has none) and, when it does, the form and fields found by
    the same label matching as the Word reader (``form`` is None when no form title or labels are found).
    A broken or password-protected PDF raises ``FormError``.
    """
    text = pdf_text(pdf_bytes, name=name)
    if not has_text_layer(text):
        return PdfForm(text_layer=False, text=text)
    try:
        rows, lines = _pdf_rows(pdf_bytes)
    except Exception as exc:  # noqa: BLE001 - pdfminer raises many kinds on damaged files
        raise FormError(f"无法读取 PDF：{type(exc).__name__}", file=name) from None
    try:
        form = parse_cells(rows, lines, name=name)
    except FormError:
        form = None
    return PdfForm(text_layer=True, text=text, form=form)


def extract_pdf_fields(pdf_bytes: bytes, *, name: str = "<pdf>") -> dict[str, str]:
    """Read a form's PDF back: ``form_id``, ``category``, ``name``, ``code``, ``key`` and every field found.

    Values are normalised as for the Word form. Returns an empty dict when the PDF is not a form (no form
    title or labels, or no text layer); an unreadable PDF raises ``FormError``.
    """
    pdf = read_pdf_form(pdf_bytes, name=name)
    if pdf.form is None:
        return {}
    spec = form_spec(pdf.form.form_id)
    out: dict[str, str] = {"form_id": spec.form_id, "category": spec.category, **pdf.fields}
    out["name"] = applicant_name(spec.form_id, out)
    out["code"] = out.get(spec.code_field, "")
    out["key"] = applicant_key(spec.form_id, out)
    return out
