"""Reading department replies: a filled reply sheet (.xlsx), or text (a mail body, .docx, .pdf or .txt) read
against the applicants a request lists, with the reply vocabulary of opinions/opinion_sheet.yaml."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from docx import Document
from openpyxl import load_workbook
from pypdf import PdfReader

from award.enums import Verdict
from award.opinions.letters import TOKEN_RE, Row
from award.opinions.texts import notice_texts, sheet_texts


@dataclass(frozen=True)
class SheetRow:
    """One filled row of a reply sheet."""

    row: int
    submission_no: str
    name: str
    opinion: str
    reason: str


@dataclass
class SheetReply:
    """A reply sheet read back: its token and the rows."""

    token: str | None
    rows: list[SheetRow]


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def read_sheet(data: bytes) -> SheetReply:
    """Read a (filled) reply sheet: the token from the header cells, then every row under the heading row."""
    cols = sheet_texts()["columns"]
    wb = load_workbook(io.BytesIO(data), data_only=True)
    token: str | None = None
    rows: list[SheetRow] = []
    for ws in wb.worksheets:
        heading: dict[str, int] | None = None
        for r_idx, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if heading is None:
                if token is None:
                    found = next((m.group(0) for c in cells if (m := TOKEN_RE.search(c))), None)
                    token = found
                if cols["submission_no"] in cells and cols["opinion"] in cells:
                    heading = {k: cells.index(label) for k, label in cols.items() if label in cells}
                continue

            def get(key: str, cells: list[str] = cells, heading: dict[str, int] = heading) -> str:
                i = heading.get(key)
                return cells[i] if i is not None and i < len(cells) else ""

            if not any(cells):
                continue
            rows.append(SheetRow(r_idx, get("submission_no"), get("name"), get("opinion"), get("reason")))
        if heading is not None:
            break
    return SheetReply(token, rows)


def _phrase_re() -> re.Pattern[str]:
    phrases = sheet_texts()["phrases"]
    words = sorted({*phrases["no_objection"], *phrases["objection"]}, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words))


def classify(text: str) -> tuple[Verdict | None, int]:
    """The verdict a piece of text states (the first phrase found) and where the phrase ends."""
    phrases = sheet_texts()["phrases"]
    for m in _phrase_re().finditer(text):
        verdict = Verdict.OBJECTION if m.group(0) in phrases["objection"] else Verdict.NO_OBJECTION
        return verdict, m.end()
    return None, -1


def strip_quoted(text: str) -> str:
    """The new text of a reply: quoted lines (``>``) dropped, everything from a quote marker on cut."""
    markers = [re.compile(p, re.IGNORECASE) for p in sheet_texts()["quote_markers"]]
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if any(m.search(stripped) for m in markers):
            break
        if stripped.startswith(">"):
            continue
        out.append(stripped)
    return "\n".join(out)


@dataclass
class TextReply:
    """Opinions read from free text: per application id, plus the problems found."""

    opinions: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_text(text: str, rows: Sequence[Row], token: str) -> TextReply:
    """Read a reply written as text against the applicants of one request.

    A line naming an applicant (by submission number or name) with 有异议 objects to it, the reason being the
    rest of the line after the phrase; with 无异议 it clears it. A 无异议 line naming nobody clears every
    applicant not named elsewhere ("均无异议", "其余无异议"). An objection naming nobody is a problem.
    """
    problems = notice_texts()["problems"]
    result = TextReply()
    general: list[str] = []
    for line in (ln for ln in strip_quoted(text).splitlines() if ln):
        named = [r for r in rows if r.submission_no in line or r.name in line]
        verdict, end = classify(line)
        if not named:
            if verdict:
                general.append(verdict)
            continue
        if verdict is None:
            continue
        reason = None
        if verdict == Verdict.OBJECTION:
            # parsing, not a message: strips a leading 理由/原因 label and punctuation from the objector's words
            reason = re.sub(r"^[\s，,。.：:；;、]*(理由|原因)?[\s，,。.：:；;、是为]*", "", line[end:]).strip() or line
        for r in named:
            result.opinions[r.application_id] = (verdict, reason)
    if Verdict.OBJECTION in general:
        result.problems.append(problems["objection_unnamed"].format(token=token))
    if Verdict.NO_OBJECTION in general:
        for r in rows:
            result.opinions.setdefault(r.application_id, (Verdict.NO_OBJECTION, None))
    if not result.opinions and not result.problems:
        result.problems.append(problems["not_understood"].format(token=token))
    return result


def docx_text(data: bytes) -> str:
    """The paragraphs and table rows of a .docx reply, one per line."""
    doc = Document(io.BytesIO(data))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            lines.append(" ".join(c.text for c in row.cells))
    return "\n".join(lines)


def pdf_text(data: bytes) -> str:
    """The text of a .pdf reply, page after page."""
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
