"""Rule ``recommender.opinion``: the recommending unit's 审核推荐意见 states its consultation and publicity."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding
from award.completeness.rules.materials import unit_name
from award.completeness.rules.publicity import PROOF_DATE, proof_dates
from award.units import unit_for

_SENTENCE_END = re.compile(r"[。；;！!]")
_ANY_DATE = re.compile(PROOF_DATE)


@dataclass(frozen=True)
class OpinionStatements:
    """What a recommending unit's 审核推荐意见 states about its own consultation and publicity."""

    consulted: bool
    consultation_dated: bool
    publicity: tuple[date, date] | None
    publicity_mentioned: bool


def opinion_statements(text: str) -> OpinionStatements:
    """Read the consultation (征求…意见, with a date) and the publicity (公示, start and end) out of the text."""
    flat = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    consulted = dated = mentioned = False
    span: tuple[date, date] | None = None
    for sentence in _SENTENCE_END.split(flat):
        if re.search(r"征求.{0,60}?意见", sentence):
            consulted = True
            dated = dated or bool(_ANY_DATE.search(sentence))
        if "公示" in sentence:
            mentioned = True
            found = proof_dates(sentence)
            if found is not None and span is None:
                span = found
    if span is None and mentioned:
        span = proof_dates(flat)
    return OpinionStatements(consulted, dated, span, mentioned)


def opinion(ctx: CheckContext) -> list[Finding]:
    """Where the recommending unit ran 征求意见 and 公示, its 审核推荐意见 must say so, with dates (>= N workdays)."""
    from award.calendar import UnknownYearError  # noqa: PLC0415 - chinese_calendar stays off the parse path
    from award.forms import FormError  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path
    from award.forms.pdf import pdf_text  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

    unit = unit_for(ctx.season, ctx.application)
    if ctx.season.first_round_for(unit.id if unit else None) != "recommending_unit":
        return []
    letter = ctx.latest("city_recommendation")
    if letter is None:
        return []  # materials.city_recommendation reports a missing opinion
    params: dict[str, Any] = {"filename": letter.filename, "unit": unit.name if unit else unit_name(ctx),
                              "min_workdays": ctx.season.publicity.min_workdays}
    try:
        said = opinion_statements(pdf_text(ctx.load_blob(letter.sha256), name=letter.filename))
    except FormError:
        return [Finding("unreadable", params)]
    out = []
    if not said.consulted:
        out.append(Finding("no_consultation", params))
    elif not said.consultation_dated:
        out.append(Finding("consultation_undated", params))
    if said.publicity is None:
        out.append(Finding("no_publicity", params))
    else:
        start, end = said.publicity
        try:
            workdays = ctx.calendar.count_workdays(start, end) if end >= start else 0
        except UnknownYearError:
            return [*out, Finding("calendar_unknown", {**params, "start": start, "end": end})]
        if workdays < ctx.season.publicity.min_workdays:
            out.append(Finding("publicity_too_short", {**params, "start": start, "end": end, "workdays": workdays}))
    return out

