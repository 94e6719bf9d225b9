"""Official documents in the GB/T 9704-2012 layout, built with python-docx.

Every document the office issues goes through :class:`OfficialDocument`, so they share one page set-up: the
征求意见函 to departments (award.opinions.letters), the 推荐函 and the 推荐名单汇总表 for the national regulator
(award.recommendation.package) and the publicity notice (award.publicity.notice). What the standard fixes and where it is done here:

* A4, margins 37 mm top, 35 mm bottom, 28 mm left, 26 mm right (type area 156 x 225 mm); 22 lines a page
  (exact line pitch 225 mm / 22); body in 3号仿宋 (16 pt), titles in 2号小标宋 (22 pt) — section 5;
* 版头: the issuing authority's mark in red 小标宋, the document number centred below it, a red separator line
  under the number — section 7.2;
* 附件说明 one line below the body, two characters in, later attachment names aligned with the first — 7.3.4;
* 发文机关署名 centred over the 成文日期, the date four characters from the right, the seal's space above them,
  the 附注 (contact) in brackets two characters in on the next line — 7.3.5, 7.3.6; the closing block is kept
  on one page with the last lines of the body, so it never stands alone on a page (7.3.5.1: adjust so the
  signature and date are not separated from the text);
* page numbers "— N —" in 4号宋体, 7 mm below the type area, odd pages one character from the right, even
  pages one character from the left — section 7.5.

Fonts are named as the office's Word installs have them (方正小标宋简体, 仿宋_GB2312, 宋体, 黑体); a reader
without them substitutes (LibreOffice here: Debian's CJK fonts through award/fonts/fonts.conf, set by
award.intake.convert.office_env), and the exact line pitch, in table cells too, keeps the page breaks where they are.
Codes and numbers in tables stay on one line (``table(one_line=...)``), the issuer's mark too. python-docx is
imported inside the class, so importing this module stays cheap.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

FONTS = {"mark": "方正小标宋简体", "title": "方正小标宋简体", "body": "仿宋_GB2312", "page": "宋体",
         "table": "仿宋_GB2312", "table_head": "黑体"}
SIZES = {"mark": 26.0, "title": 22.0, "body": 16.0, "page": 14.0, "table": 10.5, "table_head": 10.5}
RED = "FF0000"
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
TYPE_AREA_MM = (156, 225)  # width x height of the type area on portrait A4
LINES_PER_PAGE = 22
LINE_PITCH_PT = TYPE_AREA_MM[1] / 25.4 * 72 / LINES_PER_PAGE  # 28.99 pt
PAGE_NUMBER_GAP_MM = 7  # from the bottom of the type area to the page number line
SIGNATURE_DATE_RIGHT_CHARS = 4  # 成文日期右空四字
ALIGN = ("left", "center", "right", "justify")
CELL_MARGIN_MM = 1.0
CELL_LINE_PITCH = 1.2  # exact line pitch in table cells, times the font size


def _twips(mm: float) -> int:
    return round(mm / 25.4 * 1440)


def text_width(text: str) -> float:
    """Width of ``text`` in body characters: CJK and full-width characters 1, others (digits, Latin) 1/2."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in text)


# widths of Latin characters in em of the widest serif a reader substitutes (DejaVu Serif), rounded up
_LATIN_EM = {"digit": 0.64, "upper": 0.78, "lower": 0.62, "narrow": 0.36, "other": 0.64}
FIT_SLACK_MM = 0.6  # kept free in a one-line cell: renderers round widths differently


def print_width_em(text: str) -> float:
    """Width of ``text`` in em, estimated on the wide side: CJK and full-width 1, Latin by kind (``_LATIN_EM``)."""
    total = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            total += 1.0
        elif ch.isdigit():
            total += _LATIN_EM["digit"]
        elif ch.isupper():
            total += _LATIN_EM["upper"]
        elif ch.islower():
            total += _LATIN_EM["lower"]
        elif ch in "-/.,:;()[]|!'*":
            total += _LATIN_EM["narrow"]
        else:
            total += _LATIN_EM["other"]
    return total


def fitting_size(text: str, width_mm: float) -> float:
    """The largest font size (pt, in half points) at which ``text`` fits on one line ``width_mm`` wide."""
    width_em = print_width_em(text)
    if width_em <= 0:
        return 72.0
    points = (width_mm - FIT_SLACK_MM) / 25.4 * 72 / width_em
    return max(5.0, int(points * 2) / 2)


def set_run_font(run: Any, role_or_name: str, size: float | None = None, *, bold: bool = False,
                 color: str | None = None) -> None:
    """Give a run a font on every script slot (ascii, hAnsi, eastAsia, cs), a size, bold and a colour."""
    from docx.oxml.ns import qn  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
    from docx.shared import Pt, RGBColor  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

    name = FONTS.get(role_or_name, role_or_name)
    run.font.name = name
    run.font.size = Pt(size if size is not None else SIZES.get(role_or_name, SIZES["body"]))
    run.font.bold = bold
    if color:
        run.font.color.rgb = RGBColor.from_string(color)
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)


class OfficialDocument:
    """One official document being laid out; add blocks top to bottom, then :meth:`to_bytes` or :meth:`save`."""

    def __init__(self, *, title: str, when: datetime | None = None, landscape: bool = False,
                 page_numbers: bool = True) -> None:
        from docx import Document  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.enum.section import WD_ORIENT  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.shared import Mm  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        self.doc = Document()
        self._last: Any = None  # the last block added (paragraph or table), kept with the closing block
        section = self.doc.sections[0]
        section.page_width, section.page_height = (Mm(297), Mm(210)) if landscape else (Mm(210), Mm(297))
        section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
        section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
        props = self.doc.core_properties
        props.title = title
        props.author = ""
        if when is not None:
            props.created = props.modified = when.replace(microsecond=0, tzinfo=None)
        if page_numbers:
            self._page_numbers(section)

    # ------------------------------------------------------------------ blocks
    def paragraph(self, text: str = "", *, role: str = "body", align: str = "justify", indent_chars: float = 0,
                  right_chars: float = 0, color: str | None = None, bold: bool = False,
                  size: float | None = None) -> Any:
        """A paragraph on the 22-line grid; ``indent_chars`` indents the first line by body characters."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.shared import Pt  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        if align not in ALIGN:
            raise ValueError(f"align must be one of {ALIGN}, not {align!r}")
        size = size if size is not None else SIZES[role]
        p = self.doc.add_paragraph()
        p.alignment = getattr(WD_ALIGN_PARAGRAPH, align.upper())
        fmt = p.paragraph_format
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        # one grid line (28.99 pt) for body and 22 pt titles; a larger issuer mark (26 pt) gets 1.3x its size
        fmt.line_spacing = Pt(LINE_PITCH_PT if size + 6 <= LINE_PITCH_PT else size * 1.3)
        fmt.space_before = fmt.space_after = Pt(0)
        fmt.widow_control = True
        body = SIZES["body"]
        if indent_chars:
            fmt.first_line_indent = Pt(body * indent_chars)
        if right_chars:
            fmt.right_indent = Pt(body * right_chars)
        if text:
            set_run_font(p.add_run(text), role, size, color=color, bold=bold)
        self._last = p
        return p

    def blank(self, lines: int = 1) -> None:
        """Empty body lines."""
        for _ in range(lines):
            self.paragraph()

    def letterhead(self, issuer: str, doc_number: str) -> None:
        """版头: the issuer's mark in red, a blank line, the document number over the red separator line."""
        from docx.oxml import OxmlElement  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.oxml.ns import qn  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        # the mark on one line: a long issuer's name is set smaller than 26 pt rather than wrapped (7.2.2 leaves
        # the size to the office, "醒目、美观、庄重")
        size = min(SIZES["mark"], fitting_size(issuer, TYPE_AREA_MM[0]))
        self.paragraph(issuer, role="mark", align="center", color=RED, size=size)
        self.blank()
        number = self.paragraph(doc_number, align="center")
        borders = OxmlElement("w:pBdr")
        bottom = OxmlElement("w:bottom")
        for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "1"), ("w:color", RED)):
            bottom.set(qn(key), value)
        borders.append(bottom)
        number._p.get_or_add_pPr().append(borders)
        self.blank()

    def heading(self, title: str) -> None:
        """The document's title (2号小标宋, centred), followed by one blank line."""
        self.paragraph(title, role="title", align="center")
        self.blank()

    def addressee(self, text: str) -> None:
        """主送机关: flush left on the line below the title's blank line."""
        self.paragraph(text, align="left")

    def body(self, paragraphs: Iterable[str]) -> None:
        """Body paragraphs, justified, the first line two characters in."""
        for text in paragraphs:
            self.paragraph(text, indent_chars=2)

    def table(self, rows: Sequence[Sequence[Any]], *, widths_mm: Sequence[float], size: float | None = None,
              one_line: Collection[int] = ()) -> Any:
        """A grid table, the first row a header in 黑体 repeated on every page; ``rows`` include the header row.

        ``widths_mm`` are the column widths (summing to the type area's width); rows never break across pages.
        The body cells of the ``one_line`` columns (codes, numbers) never wrap: marked no-wrap, and set smaller
        when the text would not fit the column at the table's size in the widest font a reader may substitute.
        Lines in cells have an exact pitch (``CELL_LINE_PITCH`` x the size), so a fallback font moves no page break.
        """
        from docx.enum.table import WD_TABLE_ALIGNMENT  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.oxml import OxmlElement  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.oxml.ns import qn  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.shared import Mm, Pt  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        if len(widths_mm) != len(rows[0]):
            raise ValueError(f"{len(rows[0])} columns but {len(widths_mm)} widths")
        table = self.doc.add_table(rows=len(rows), cols=len(rows[0]))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        for column, width in zip(table.columns, widths_mm, strict=True):
            column.width = Mm(width)  # the table grid, which LibreOffice lays out by
        # Each row and its cells are fetched once: python-docx rebuilds ``table.rows`` and ``row.cells`` on every
        # access, so indexing them per cell made a table quadratic in its rows.
        for r_idx, (row, values) in enumerate(zip(table.rows, rows, strict=True)):
            tr_pr = row._tr.get_or_add_trPr()
            tr_pr.append(OxmlElement("w:cantSplit"))
            if r_idx == 0:
                tr_pr.append(OxmlElement("w:tblHeader"))
            cells = row.cells
            if len(values) > len(cells):
                raise ValueError(f"row {r_idx}: {len(values)} values but {len(cells)} columns")
            for c_idx, (cell, value) in enumerate(zip(cells, values, strict=False)):  # a short row leaves cells empty
                cell.width = Mm(widths_mm[c_idx])
                para = cell.paragraphs[0]
                para.alignment = WD_ALIGN_PARAGRAPH.CENTER
                para.paragraph_format.space_after = Pt(0)
                role = "table_head" if r_idx == 0 else "table"
                text = "" if value is None else str(value)
                cell_size = size if size is not None else SIZES[role]
                if r_idx > 0 and c_idx in one_line:
                    cell_size = min(cell_size, fitting_size(text, widths_mm[c_idx] - 2 * CELL_MARGIN_MM))
                    cell._tc.get_or_add_tcPr().append(OxmlElement("w:noWrap"))
                para.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
                para.paragraph_format.line_spacing = Pt(round(cell_size * CELL_LINE_PITCH, 1))
                set_run_font(para.add_run(text), role, cell_size, bold=r_idx == 0)
        tbl_pr = table._tbl.tblPr
        for el in tbl_pr.findall(qn("w:tblW")):
            el.set(qn("w:type"), "dxa")
            el.set(qn("w:w"), str(_twips(sum(widths_mm))))
        margins = OxmlElement("w:tblCellMar")  # 1 mm each side (Word's default 1.9 mm wraps codes and numbers)
        for side in ("left", "right"):
            el = OxmlElement(f"w:{side}")
            el.set(qn("w:w"), str(_twips(CELL_MARGIN_MM)))
            el.set(qn("w:type"), "dxa")
            margins.append(el)
        tbl_pr.append(margins)
        self._last = table
        return table

    def annex(self, number: int | None, title: str) -> None:
        """Start an attachment (附件) on a new page: "附件N" in 3号黑体 on line 1, its title centred on line 3."""
        label = self.paragraph(align="left")
        label.paragraph_format.page_break_before = True
        set_run_font(label.add_run("附件" if number is None else f"附件{number}"), "黑体", SIZES["body"])
        self.blank()
        self.heading(title)

    def closing(self, *, attachments: Sequence[str] = (), signature: str, date: str,
                note: str | None = None, seal_lines: int = 2) -> None:
        """附件说明, the seal's space, 署名 centred over the 成文日期, 附注; kept on one page with the body's end.

        The block from the attachment note to the date never breaks, and the block before it (the last body
        paragraph, or a table's last row) goes with it, so the signature never stands on a page without text.
        End the body with a short paragraph (特此函告。): Word and WPS then move its last lines along, and
        LibreOffice, which moves a kept paragraph whole, leaves no gap either.
        """
        from docx.shared import Pt  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        self._keep_with_next(self._last)
        chain: list[Any] = []
        if attachments:
            chain.append(self.paragraph())
            if len(attachments) == 1:
                chain.append(self.paragraph(f"附件：{attachments[0]}", align="left", indent_chars=2))
            else:
                for i, item in enumerate(attachments, start=1):
                    lead = "附件：" if i == 1 else "\u3000" * 3  # later names align with the first
                    para = self.paragraph(f"{lead}{i}. {item}", align="left")
                    hang = text_width(f"附件：{i}. ")  # a wrapped name aligns with its first character
                    para.paragraph_format.left_indent = Pt(SIZES["body"] * (2 + hang))
                    para.paragraph_format.first_line_indent = Pt(-SIZES["body"] * hang)
                    chain.append(para)
        chain.extend(self.paragraph() for _ in range(seal_lines))
        date_right = SIGNATURE_DATE_RIGHT_CHARS
        signature_right = max(2.0, date_right + (text_width(date) - text_width(signature)) / 2)
        chain.append(self.paragraph(signature, align="right", right_chars=signature_right))
        dated = self.paragraph(date, align="right", right_chars=date_right)
        if note:
            chain.append(dated)
            self.paragraph(note, align="left", indent_chars=2)
        for para in chain:
            self._keep_with_next(para)

    # ------------------------------------------------------------------ output
    def to_bytes(self) -> bytes:
        """The .docx as bytes."""
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()

    def save(self, path: Path) -> None:
        """Write the .docx to ``path``."""
        self.doc.save(str(path))

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _keep_with_next(block: Any) -> None:
        if block is None:
            return
        if hasattr(block, "paragraph_format"):
            block.paragraph_format.keep_with_next = True
            return
        for cell in block.rows[-1].cells:  # a table: its last row stays with what follows
            for para in cell.paragraphs:
                para.paragraph_format.keep_with_next = True

    def _page_numbers(self, section: Any) -> None:
        """"— N —" in 4号宋体, odd pages right and even pages left, one character in, 7 mm under the type area."""
        from docx.shared import Mm, Pt  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        self.doc.settings.odd_and_even_pages_header_footer = True
        line_mm = SIZES["page"] / 72 * 25.4
        section.footer_distance = Mm(MARGINS_MM["bottom"] - PAGE_NUMBER_GAP_MM - line_mm)
        for footer, align in ((section.footer, "right"), (section.even_page_footer, "left")):
            footer.is_linked_to_previous = False
            para = footer.paragraphs[0]
            self._page_number(para, align, Pt(SIZES["page"]))

    @staticmethod
    def _page_number(para: Any, align: str, one_char: Any) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.oxml import OxmlElement  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)
        from docx.oxml.ns import qn  # noqa: PLC0415 - python-docx loads only when a document is built: officialdoc is imported by modules that never build one (opinions.replies, publicity.mails, recommendation.export)

        para.alignment = getattr(WD_ALIGN_PARAGRAPH, align.upper())
        fmt = para.paragraph_format
        fmt.space_before = fmt.space_after = 0
        if align == "right":
            fmt.right_indent = one_char
        else:
            fmt.left_indent = one_char
        set_run_font(para.add_run("— "), "page")
        run = para.add_run()
        set_run_font(run, "page")
        for kind, instr in (("begin", None), (None, "PAGE"), ("end", None)):
            if kind:
                el = OxmlElement("w:fldChar")
                el.set(qn("w:fldCharType"), kind)
            else:
                el = OxmlElement("w:instrText")
                el.set(qn("xml:space"), "preserve")
                el.text = instr
            run._r.append(el)
        set_run_font(para.add_run(" —"), "page")
