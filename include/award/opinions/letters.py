"""The documents of one opinion request: its token, the applicants it lists, the 征求意见函 (.docx) and the reply
sheet (.xlsx), and the names under which both are attached and filed."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from award.config import Department, Season
from award.enums import Verdict
from award.identity import listed_code
from award.officialdoc import OfficialDocument
from award.opinions.texts import render_blocks, sheet_texts
from award.store.models import Application, OpinionRequest
from award.templating import message_group

TOKEN_RE = re.compile(r"YJ-\d{4}-[a-z0-9_]+-[0-9a-f]{6}")
LETTER_TEMPLATE = "opinions/opinion_request.docx.j2"
LETTER_TABLE_WIDTHS_MM = (9, 29, 34, 46, 16, 22)  # 156 mm: the type area of A4 (award.officialdoc)
LETTER_ONE_LINE_COLUMNS = (0, 1, 3)  # 序号, 申报编号 and the code never wrap

_text = message_group("opinions", "opinions")


def make_token(season: Season, dept: Department, application_ids: Iterable[int], salt: int = 0) -> str:
    """``YJ-<year>-<dept code>-<6 hex>``, the hex derived from the batch (stable for the same batch)."""
    seed = f"{season.season_id}|{dept.code}|{sorted(application_ids)}|{salt}".encode()
    return f"YJ-{season.year}-{dept.code}-{hashlib.sha256(seed).hexdigest()[:6]}"


@dataclass(frozen=True)
class Row:
    """One applicant as listed in a letter and a reply sheet."""

    application_id: int
    submission_no: str
    name: str
    code: str
    city: str
    category: str


def row_of(season: Season, app: Application) -> Row:
    """How ``app`` is listed: submission number, name, listed code, city and category label."""
    applicant = app.applicant
    code = listed_code(applicant.kind, applicant.key)
    try:
        label = season.category(app.category).label
    except KeyError:
        label = app.category
    return Row(app.id, app.submission_no, applicant.name, code, app.city or applicant.city or "", label)


def rows_of(session: Session, season: Season, request: OpinionRequest) -> list[Row]:
    """The applicants a request lists, in application order."""
    ids = [i.application_id for i in request.items]
    apps = session.scalars(select(Application).where(Application.id.in_(ids)).order_by(Application.id)).all()
    return [row_of(season, a) for a in apps]


def filenames(season: Season, request: OpinionRequest) -> tuple[str, str]:
    """The file names of the letter and of the reply sheet."""
    return (_text("filenames.letter", season_label=season.label, token=request.token),
            _text("filenames.sheet", token=request.token))


def attachments(request: OpinionRequest, letter_name: str, sheet_name: str) -> list[dict[str, str]]:
    """The outbox attachments of a request's mails: the letter and the sheet, by blob hash."""
    return [{"sha256": request.letter_sha256 or "", "filename": letter_name},
            {"sha256": request.sheet_sha256 or "", "filename": sheet_name}]


def build_letter(season: Season, dept: Department, request: OpinionRequest, rows: Sequence[Row], *,
                 doc_number: str, sheet_filename: str, today: date) -> bytes:
    """The 征求意见函 as .docx bytes (GB/T 9704-2012 layout by award.officialdoc; all text from the template)."""
    texts = sheet_texts()
    blocks = render_blocks(
        LETTER_TEMPLATE, unit=season.recommending_unit, season_label=season.label, department=dept,
        doc_number=doc_number, token=request.token, due_date=request.due_date, rows=list(rows), today=today,
        sheet_filename=sheet_filename, silence_meaning=texts["silence_meaning"][dept.default_on_silence],
    )
    doc = OfficialDocument(title=blocks["title"])
    doc.letterhead(blocks["issuer"], blocks["doc_number"])
    doc.heading(blocks["title"])
    doc.addressee(blocks["addressee"])
    doc.body(_paragraphs(blocks["body"]))
    doc.closing(attachments=[blocks["list_title"], blocks["sheet_attachment"]], signature=blocks["signature"],
                date=blocks["date"], note=blocks["contact"] or None)
    doc.annex(1, blocks["list_title"])
    values = [[str(i), r.submission_no, r.name, r.code, r.city, r.category] for i, r in enumerate(rows, 1)]
    doc.table([texts["letter_columns"], *values], widths_mm=LETTER_TABLE_WIDTHS_MM, one_line=LETTER_ONE_LINE_COLUMNS)
    return doc.to_bytes()


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def build_sheet(season: Season, dept: Department, request: OpinionRequest, rows: Sequence[Row]) -> bytes:
    """The reply sheet (.xlsx): token in a header cell, one row per applicant, 意见 as a validated list."""
    t = sheet_texts()
    cols = t["columns"]
    wb = Workbook()
    ws = wb.active
    ws.title = t["sheet_name"]
    ws["A1"] = t["title"].format(season_label=season.label)
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells("A1:G1")
    ws["A2"], ws["B2"] = t["token_label"], request.token
    ws["D2"], ws["E2"] = t["due_label"], request.due_date.isoformat()
    ws["A3"], ws["B3"] = t["department_label"], dept.name
    ws["A4"] = t["instructions"]
    ws.merge_cells("A4:G4")
    header = [cols[k] for k in ("submission_no", "name", "code", "city", "category", "opinion", "reason")]
    ws.append([])
    ws.append(header)
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r.submission_no, r.name, r.code, r.city, r.category, None, None])
    last = max(ws.max_row, header_row + 1)
    choices = ",".join(t["choices"][k] for k in (Verdict.NO_OBJECTION, Verdict.OBJECTION))
    dv = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True, showErrorMessage=True)
    dv.error = t["instructions"]
    ws.add_data_validation(dv)
    dv.add(f"F{header_row + 1}:F{last}")
    for letter, width in zip("ABCDEFG", (16, 36, 24, 12, 22, 10, 40), strict=True):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=header_row + 1, max_row=last, min_col=7, max_col=7):
        row[0].alignment = Alignment(wrap_text=True)
    ws.freeze_panes = f"A{header_row + 1}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
