"""PDF copies of forms (and other simple Chinese text documents) with reportlab, and reading them back.

Text uses reportlab's built-in CID font STSong-Light (no font file needed); pypdf extracts it as
Unicode, so a PDF copy can be compared with its Word form. PDFs are written with ``invariant=1``:
the same input gives byte-identical output.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from award.forms.spec import (
    FormError,
    FormSpec,
    all_forms,
    applicant_key,
    applicant_name,
    declaration_text,
    form_spec,
    label_index,
    normalize_label,
)

FONT = "STSong-Light"
_MARGIN = 56
_COLON = re.compile(r"[:：]")


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
        return height - _MARGIN

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


def pdf_text(pdf_bytes: bytes, *, name: str = "<pdf>") -> str:
    """All text of a PDF (pypdf); a broken or encrypted PDF raises ``FormError``."""
    try:
        reader = PdfReader(io.BytesIO(pdf_bytes))
        if reader.is_encrypted:
            raise FormError("PDF 已加密，无法读取", file=name)
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormError(f"无法读取 PDF：{exc}", file=name) from None


def _identify(lines: list[str]) -> FormSpec | None:
    for line in lines[:10]:
        norm = normalize_label(line)
        if "中国质量奖申报表" in norm:
            for spec in all_forms().values():
                if norm.endswith(normalize_label(f"申报表（{spec.suffix}）")):
                    return spec
    return None


def extract_pdf_fields(pdf_bytes: bytes, *, name: str = "<pdf>") -> dict[str, str]:
    """Read a form's PDF copy back: ``form_id``, ``category``, ``name``, ``code``, ``key`` and every field found.

    Values are as printed (not normalised); wrapped long texts are joined. Returns an empty dict when
    the PDF is not a form copy (no form title); an unreadable PDF raises ``FormError``.
    """
    lines = [ln.strip() for ln in pdf_text(pdf_bytes, name=name).splitlines()]
    spec = _identify(lines)
    if spec is None:
        return {}
    index = label_index(spec.form_id)
    out: dict[str, str] = {"form_id": spec.form_id, "category": spec.category}
    current: str | None = None
    for line in lines:
        m = _COLON.search(line)
        key = index.get(normalize_label(line[: m.start()])) if m else None
        if key is not None and key not in out:
            out[key] = line[m.end() :].strip()  # type: ignore[union-attr]
            current = key if spec.field(key).type == "long_text" else None
        elif current is not None and line and not line.startswith(("本单位", "申报单位")):
            out[current] += line
        else:
            current = None
    out["name"] = applicant_name(spec.form_id, out)
    out["code"] = out.get(spec.code_field, "")
    out["key"] = applicant_key(spec.form_id, out)
    return out
