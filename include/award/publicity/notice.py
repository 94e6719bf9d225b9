"""The public notice of a window (公示): one line per application without personal data, as .docx and HTML.

The words come from templates/publicity/ (``notice.yaml.j2``, ``notice.html.j2``); the .docx follows the
official-document layout (award.officialdoc). Published to shared storage under :func:`notice_key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from award.identity import mask_pii_text
from award.officialdoc import OfficialDocument
from award.store.models import Application, PublicityWindow
from award.templating import render

if TYPE_CHECKING:
    from award.config import Season

NOTICE_TABLE_WIDTHS_MM = (12, 50, 44, 22, 28)  # 156 mm: the type area of A4 (award.officialdoc)


@dataclass(frozen=True)
class NoticeRow:
    """One line of the public list: no ID numbers, phones or e-mail addresses."""

    name: str
    unit: str
    city: str
    category: str
    submission_no: str = field(repr=False, compare=False, default="")


def notice_row(season: Season, app: Application) -> NoticeRow:
    """The public line of an application (individuals: name + work unit + city; teams: team + unit).

    ID numbers, phones and e-mail addresses inside these texts are masked (``identity.mask_pii_text``).
    """
    fields = app.fields or {}
    label = season.categories[app.category].label if app.category in season.categories else app.category
    name = app.applicant.name
    unit = ""
    if app.category == "individual":
        unit = str(fields.get("employer") or "")
    elif app.category == "team":
        name = str(fields.get("team_name") or name)
        unit = str(fields.get("org_name") or "")
    # free text typed by the applicant may carry an ID number, a phone or an e-mail: masked before publishing
    return NoticeRow(name=mask_pii_text(name), unit=mask_pii_text(unit),
                     city=mask_pii_text(app.city or app.applicant.city or ""), category=label,
                     submission_no=app.submission_no)


@dataclass(frozen=True)
class Notice:
    """The rendered notice."""

    title: str
    docx: bytes
    html: str


def render_notice(season: Season, window: PublicityWindow, rows: list[NoticeRow]) -> Notice:
    """Render the notice from templates/publicity/ as .docx (python-docx) and HTML."""
    ctx = dict(season=season, unit=season.recommending_unit, publicity=season.publicity, window=window,
               purpose=window.purpose)
    text = yaml.safe_load(render("publicity/notice.yaml.j2", **ctx))
    html = render("publicity/notice.html.j2", notice=text, rows=rows)
    return Notice(title=text["title"], docx=_notice_docx(text, rows), html=html)


def _notice_docx(text: dict[str, Any], rows: list[NoticeRow]) -> bytes:
    doc = OfficialDocument(title=text["title"])
    doc.heading(text["title"])
    doc.body(text["intro"])
    values = [[str(i), r.name, r.unit or "—", r.city or "—", r.category] for i, r in enumerate(rows, start=1)]
    doc.table([text["columns"], *values], widths_mm=NOTICE_TABLE_WIDTHS_MM)
    doc.blank()
    doc.body(text["outro"])
    doc.closing(signature=text["signature"], date=text["date"])
    return doc.to_bytes()


def notice_key(season: Season, window_id: int, filename: str) -> str:
    """Shared-storage key ``<publicity.location>/<season>/<window id>/<filename>``."""
    base = season.publicity.location.strip("/") or "publicity"
    return f"{base}/{season.season_id}/{window_id}/{filename}"
