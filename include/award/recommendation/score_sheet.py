"""The score sheet the office sends the review agency: the applications awaiting a score, with 申报编号, 名称 and
code filled in and locked, only the score column open (.xlsx in shared storage under ``score_sheets/``). Filled
in, it is a score file like any other (``award.recommendation.scores``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from award.config import Season
from award.recommendation.scores import (
    COL_CODE,
    COL_NAME,
    COL_NUMBER,
    COL_SCORE,
    SCORABLE,
    ScoreFileError,
    clean_cell,
    read_table,
    sent_code,
)
from award.runtime import Runtime
from award.store import session_scope
from award.store.models import Application
from award.templating import message_group

_text = message_group("recommendation", "ranking")

SHEET_PREFIX = "score_sheets/"


def score_sheet_rows(session: Session, season: Season) -> list[list[str]]:
    """One row per application awaiting its score (``SCORABLE``): 申报编号, 名称, code as sent out, 类别."""
    apps = session.scalars(
        select(Application)
        .where(Application.season == season.season_id, Application.state.in_(SCORABLE))
        .options(selectinload(Application.applicant))
        .order_by(Application.submission_no)
    ).all()
    return [[a.submission_no, a.applicant.name, sent_code(a), season.category(a.category).label] for a in apps]


def score_sheet_bytes(season: Season, rows: Sequence[Sequence[str]]) -> bytes:
    """The score sheet template (.xlsx): codes and names filled in and locked, only the score column open.

    Row 1 is the header the import reads; a second sheet explains how to fill it in. The workbook's dates are
    fixed, so the same rows give the same bytes.
    """
    from openpyxl import Workbook  # noqa: PLC0415 - openpyxl loads only when the sheet is written
    from openpyxl.styles import Font, Protection  # noqa: PLC0415 - as above
    from openpyxl.worksheet.datavalidation import DataValidation  # noqa: PLC0415 - as above

    header = [COL_NUMBER, COL_NAME, COL_CODE, _text("sheet.category"), COL_SCORE]
    wb = Workbook()
    ws = wb.active
    ws.title = _text("sheet.title")
    ws.append(header)
    for row in rows:
        ws.append([*row, None])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    score_col = len(header)
    for r in range(2, len(rows) + 2):
        ws.cell(row=r, column=3).number_format = "@"
        ws.cell(row=r, column=score_col).protection = Protection(locked=False)
    if rows:
        check = DataValidation(type="decimal", operator="between", formula1=f"{season.scores.minimum:g}",
                               formula2=f"{season.scores.maximum:g}", allow_blank=True, showErrorMessage=True,
                               error=_text("sheet.range_error", minimum=f"{season.scores.minimum:g}",
                                           maximum=f"{season.scores.maximum:g}"))
        ws.add_data_validation(check)
        letter = ws.cell(row=1, column=score_col).column_letter
        check.add(f"{letter}2:{letter}{len(rows) + 1}")
    ws.protection.sheet = True  # no password: it only keeps the agency from retyping codes by accident
    for i, width in enumerate((16, 36, 30, 22, 12), start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"
    notes = wb.create_sheet(_text("sheet.notes_title"))
    for line in _text("sheet.notes", unit=season.recommending_unit.name, number=COL_NUMBER, score=COL_SCORE,
                      minimum=f"{season.scores.minimum:g}",
                      maximum=f"{season.scores.maximum:g}").splitlines():
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    stamp = datetime(season.year, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def score_sheet_key(season: Season) -> str:
    """Where the template lives in shared storage (never under ``scores/``, which the import reads)."""
    return SHEET_PREFIX + _text("sheet.filename", season=season.season_id)


def write_score_sheet(rt: Runtime) -> dict[str, Any]:
    """Write the score sheet template to shared storage when the list of applications awaiting a score changed.

    Returns {"key", "rows", "written"}; nothing is written when there is nobody to score or the list is the same.
    """
    with session_scope(rt.db_url) as session:
        rows = score_sheet_rows(session, rt.season)
    key = score_sheet_key(rt.season)
    if not rows:
        return {"key": key, "rows": 0, "written": False}
    data = score_sheet_bytes(rt.season, rows)
    try:
        current = rt.shared.read(key)
    except (FileNotFoundError, KeyError, OSError):
        current = None
    except Exception:  # noqa: BLE001 - a storage backend's own "no such key" error
        current = None
    if current is not None and _sheet_rows(current) == [list(r) for r in rows]:
        return {"key": key, "rows": len(rows), "written": False}
    rt.shared.write(key, data)
    return {"key": key, "rows": len(rows), "written": True}


def _sheet_rows(data: bytes) -> list[list[str]] | None:
    try:
        frame = read_table(data, "sheet.xlsx")
    except ScoreFileError:
        return None
    return [[clean_cell(v) for v in row[:4]] for row in frame.itertuples(index=False)]
