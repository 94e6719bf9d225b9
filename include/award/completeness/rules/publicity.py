"""Rule ``publicity.min_workdays``: the internal publicity lasted the season's working days (proof or form dates)."""

from __future__ import annotations

import re
from datetime import date

from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, phrase
from award.identity import parse_date

PROOF_DATE = r"(\d{4}\s*(?:年\s*\d{1,2}\s*月\s*\d{1,2}\s*日?|[-./]\s*\d{1,2}\s*[-./]\s*\d{1,2}))"
_PROOF_START = re.compile(r"公示开始日期\s*[:：]\s*" + PROOF_DATE)
_PROOF_END = re.compile(r"公示结束日期\s*[:：]\s*" + PROOF_DATE)
_PROOF_SPAN = re.compile(r"于?\s*" + PROOF_DATE + r"\s*(?:至|到|—|–|-|~)\s*" + PROOF_DATE)


def proof_dates(text: str) -> tuple[date, date] | None:
    """The publicity start and end dates stated in an internal-publicity proof's text, or None."""
    flat = re.sub(r"\s+", "", text)
    start, end = _PROOF_START.search(flat), _PROOF_END.search(flat)
    try:
        if start and end:
            return parse_date(start.group(1)), parse_date(end.group(1))
        span = _PROOF_SPAN.search(flat)
        if span:
            return parse_date(span.group(1)), parse_date(span.group(2))
    except ValueError:
        return None
    return None


def min_workdays(ctx: CheckContext) -> list[Finding]:
    """The publicity span of the proof (or, unreadable, of the form) has at least the season's working days."""
    from award.calendar import UnknownYearError  # noqa: PLC0415 - chinese_calendar stays off the parse path
    from award.forms import FormError  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path
    from award.forms.pdf import pdf_text  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

    n = ctx.season.publicity.min_workdays
    spans: list[tuple[str, date, date]] = []
    out: list[Finding] = []
    form_span: tuple[date, date] | None = None
    try:
        form_span = (parse_date(ctx.fields["publicity_start"]), parse_date(ctx.fields["publicity_end"]))
    except (KeyError, ValueError):
        pass  # fields.required / fields.dates report it
    proof = ctx.latest("publicity_proof")
    if proof is not None:
        source = phrase("proof_source", filename=proof.filename)
        try:
            found = proof_dates(pdf_text(ctx.load_blob(proof.sha256), name=proof.filename))
        except FormError:
            found = None  # a .docx or scanned proof: fall back to the form's dates, staff look at the file
            if form_span is None:
                out.append(Finding("unreadable", {"source": source}))
        if found is not None:
            spans.append((source, *found))
            if form_span is not None and found != form_span:
                out.append(
                    Finding("mismatch", {"proof_start": found[0], "proof_end": found[1],
                                         "form_start": form_span[0], "form_end": form_span[1]})
                )
        elif form_span is None and not out:
            out.append(Finding("unreadable", {"source": source}))
    if form_span is not None and not spans:
        spans.append((phrase("form_source"), *form_span))
    for source, start, end in spans:
        try:
            workdays = ctx.calendar.count_workdays(start, end) if end >= start else 0
        except UnknownYearError:
            out.append(Finding("calendar_unknown", {"start": start, "end": end}))
            continue
        if workdays < n:
            out.append(Finding("too_short", {"start": start, "end": end, "workdays": workdays, "min_workdays": n,
                                             "source": source}))
    return out

