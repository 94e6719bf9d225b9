"""Documents and downloads of the desk: reports, letters, notices and packages, and the blob behind a download.

Split from ``award.desk.queries`` (the overview, the list and one application); queries only, no Airflow import.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.config import Season
from award.desk.queries import _iso
from award.enums import (
    InboundPurpose,
    PackageStatus,
    SourceChannel,
)
from award.store.models import (
    AuditEvent,
    InboundItem,
    Material,
    OpinionRequest,
    Package,
    Problem,
    PublicityWindow,
)
from award.templating import message_group

_text = message_group("desk", "desk")


def documents(session: Session, season: Season, shared: Any = None) -> dict[str, Any]:
    """The season's documents: staff reports (shared storage), letters, publicity notices, packages."""
    sid = season.season_id
    reports: list[dict[str, Any]] = []
    if shared is not None:
        prefix = f"reports/{sid}/"
        try:
            listing = shared.list(prefix)
        except (OSError, FileNotFoundError):
            listing = []
        for obj in sorted(listing, key=lambda o: o.key, reverse=True):
            name = obj.key[len(prefix):] if obj.key.startswith(prefix) else obj.key.rsplit("/", 1)[-1]
            if "/" in name:
                continue
            reports.append({"name": name, "size": getattr(obj, "size", None),
                            "modified": _iso(getattr(obj, "last_modified", None)), "download": f"report/{name}"})
    letters = []
    for r in session.scalars(select(OpinionRequest).where(OpinionRequest.season == sid).order_by(OpinionRequest.id)):
        name = next((d.name for d in season.departments if d.code == r.department), r.department)
        letters.append({"id": r.id, "department": r.department, "department_name": name, "token": r.token,
                        "sent_at": _iso(r.sent_at), "due": _iso(r.due_date), "status": r.status,
                        "applications": len(r.items),
                        "letter": f"letter/{r.id}" if r.letter_sha256 else None,
                        "sheet": f"sheet/{r.id}" if r.sheet_sha256 else None})
    notices = [{"id": w.id, "purpose": w.purpose, "purpose_label": _text(f"purpose.{w.purpose}"),
                "start": _iso(w.start_date), "end": _iso(w.end_date), "end_at": _iso(w.end_at), "status": w.status,
                "docx": f"notice-docx/{w.id}" if w.notice_docx_sha256 else None,
                "html": f"notice-html/{w.id}" if w.notice_html_sha256 else None}
               for w in session.scalars(select(PublicityWindow).where(PublicityWindow.season == sid)
                                        .order_by(PublicityWindow.id.desc()))]
    packages = []
    for p in session.scalars(select(Package).where(Package.season == sid).order_by(Package.version.desc())):
        problems = session.scalar(select(AuditEvent.details).where(
            AuditEvent.entity_type == "package", AuditEvent.entity_id == p.id,
            AuditEvent.action.in_(("verify", "verify_failed"))).order_by(AuditEvent.id.desc()).limit(1))
        packages.append({"id": p.id, "version": p.version, "status": p.status,
                         "status_label": _text(f"package_status.{p.status}") if p.status in PACKAGE_STATUSES
                         else p.status, "created_at": _iso(p.created_at), "approved_by": p.approved_by,
                         "approved_at": _iso(p.approved_at), "sent_at": _iso(p.sent_at),
                         "problems": (problems or {}).get("problems", []),
                         "zip_sha256": p.zip_sha256, "download": f"package/{p.id}" if p.zip_sha256 else None})
    score_files = []
    for item in session.scalars(select(InboundItem).where(InboundItem.season == sid, InboundItem.purpose == InboundPurpose.SCORES)
                                .order_by(InboundItem.received_at.desc(), InboundItem.id.desc())):
        problems = [p.message for p in session.scalars(select(Problem).where(Problem.inbound_item_id == item.id)
                                                        .order_by(Problem.id))]
        score_files.append({"id": item.id, "filename": item.filename, "received_at": _iso(item.received_at),
                            "status": item.status, "refused": bool(problems), "problems": problems,
                            "sha256": item.sha256, "download": f"inbound/{item.id}"})
    return {"reports": reports, "letters": letters, "notices": notices, "packages": packages,
            "score_files": score_files}


PACKAGE_STATUSES = tuple(PackageStatus)
_DOC_COLUMNS: dict[str, tuple[Any, str]] = {
    "letter": (OpinionRequest, "letter_sha256"), "sheet": (OpinionRequest, "sheet_sha256"),
    "notice-docx": (PublicityWindow, "notice_docx_sha256"), "notice-html": (PublicityWindow, "notice_html_sha256"),
    "package": (Package, "zip_sha256"),
}


@dataclass(frozen=True)
class Download:
    """What to stream for a download: the blob's SHA-256 and the name the browser saves."""

    sha256: str
    filename: str
    content_type: str


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def blob_for_download(session: Session, season: Season, kind: str, ident: int) -> Download | None:
    """Resolve a download reference (``material/7``, ``inbound/3``, ``letter/2``, ``package/1``...) of the season
    to its blob; None when there is no such file. Never a filesystem path."""
    if kind == "material":
        m = session.get(Material, ident)
        if m is None or m.application.season != season.season_id:
            return None
        return Download(m.sha256, m.filename, m.content_type or _content_type(m.filename))
    if kind == "inbound":
        i = session.get(InboundItem, ident)
        if i is None or i.season != season.season_id:
            return None
        name = i.filename or (f"{i.channel}-{i.id}.eml" if i.channel in (SourceChannel.IMAP, SourceChannel.MAILDIR) else f"item-{i.id}")
        return Download(i.sha256, name, _content_type(name))
    if kind not in _DOC_COLUMNS:
        return None
    model, column = _DOC_COLUMNS[kind]
    row = session.get(model, ident)
    if row is None or row.season != season.season_id or not getattr(row, column):
        return None
    names = {"letter": f"{_text('doc.letter')}-{getattr(row, 'department', '')}-{ident}.docx",
             "sheet": f"{_text('doc.sheet')}-{getattr(row, 'department', '')}-{ident}.xlsx",
             "notice-docx": f"{_text('doc.notice')}-{ident}.docx", "notice-html": f"{_text('doc.notice')}-{ident}.html",
             "package": f"{_text('doc.package')}-{season.season_id}-v{getattr(row, 'version', ident)}.zip"}
    return Download(getattr(row, column), names[kind], _content_type(names[kind]))


def report_key(season: Season, shared: Any, name: str) -> str | None:
    """The shared-storage key of a staff report named ``name`` (only names the listing has)."""
    prefix = f"reports/{season.season_id}/"
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    return next((o.key for o in shared.list(prefix) if o.key == prefix + name), None)
