"""The recommendation package for the national regulator: approval, compile, verify, export, results.

A *proposal* is the list of candidates (CANDIDATE_CONFIRMED / RECOMMENDED / EXPORTED) with the exact files that
would go into the package; its ``content_hash`` covers the candidates' rows and every file's SHA-256, so any
change (a candidate in or out, a replaced form) gives a new hash. The leadership group approves one hash
(``record_approval``): that creates a new ``Package`` version. ``compile_package`` builds the versioned folder
and zip (files streamed from the blob store), ``verify_package`` checks the zip against the store and the
approval, ``export_package`` uploads it to the national storage location and queues the e-mail (once per
version), and ``notify_applicants`` tells every ranked applicant the result.

Every public function takes a ``Runtime`` and runs its own transactions, so each DAG task is one call.
Heavy libraries (python-docx, openpyxl) are imported inside functions. The deadline-alert callback lives in
the cheap module award.recommendation.alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from award.clock import now
from award.config import Season
from award.seasonfile import yaml_load
from award.storage.blobs import CHUNK, sha256_file
from award.templating import cn_date, message, message_group, render, template_path

log = logging.getLogger(__name__)

ACTOR = "recommendation"
PACKAGE_KINDS = ("form_docx", "form_pdf", "evidence", "publicity_proof", "unit_opinion")
CANDIDATE_STATES = ("candidate_confirmed", "recommended", "exported")
APPROVED_STATES = ("recommended", "exported")
# already-compressed formats are stored, the rest deflated (the benchmark's baseline uses the same rule)
STORED_SUFFIXES = frozenset({".pdf", ".docx", ".xlsx", ".zip", ".jpg", ".jpeg", ".png", ".ofd", ".rar", ".7z",
                             ".doc", ".xls", ".mp4"})
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


_text = message_group("recommendation", "package")


class PackageError(RuntimeError):
    """The package cannot go on (e.g. the content changed since the approval); nothing was sent."""


class PackageVerificationError(PackageError):
    """Verification failed; the package is marked failed and ops were sent the report."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(_text("verification_failed", problems=problems[:10]))


@lru_cache(maxsize=1)
def package_texts() -> dict[str, Any]:
    """File names and labels (templates/letters/package.yaml)."""
    texts: dict[str, Any] = yaml_load(template_path("letters/package.yaml").read_text(encoding="utf-8"))
    return texts


def safe_name(name: str) -> str:
    """A file-system-safe version of a name (Chinese kept; separators and control characters replaced)."""
    cleaned = _UNSAFE.sub("_", name).strip(" .")
    return cleaned[:80] or _text("unnamed")


def season_label(season: Season) -> str:
    return f"{season.award.edition}{season.award.name}"


# ---------------------------------------------------------------- the proposal
@dataclass(frozen=True)
class PackageFile:
    """A candidate's material in the package: where it goes and what it must be."""

    path: str  # relative POSIX path inside the package folder
    sha256: str
    size: int
    kind: str
    material_id: int


@dataclass
class Candidate:
    """One candidate's row in the summary table and its files."""

    nn: int
    application_id: int
    submission_no: str
    name: str
    code: str
    category: str
    category_label: str
    group: str
    city: str
    contact: str
    phone: str
    score: float | None
    priority: bool
    placement: str
    state: str
    folder: str
    work_unit: str = ""
    recommending_unit: str = ""
    priority_basis: str = ""
    files: list[PackageFile] = field(default_factory=list)


@dataclass
class Proposal:
    """The candidates and files that a package would hold, with the hash approval is bound to."""

    season_id: str
    candidates: list[Candidate]
    content_hash: str
    problems: list[str]

    def summary_lines(self) -> list[str]:
        """One line per candidate (no codes, phones or ID numbers: this is shown in the approval step)."""
        return [
            _text("summary_line", nn=f"{c.nn:02d}", name=c.name, category=c.category_label, city=c.city,
                  score=c.score if c.score is not None else "-", priority=c.priority,
                  priority_basis=getattr(c, "priority_basis", ""))
            for c in self.candidates
        ]


def _content_hash(season_id: str, candidates: list[Candidate]) -> str:
    payload = {
        "season": season_id,
        "candidates": [
            {k: v for k, v in asdict(c).items() if k not in ("state", "application_id")} for c in candidates
        ],
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _field(app: Any, *keys: str) -> str:
    for key in keys:
        value = (app.fields or {}).get(key)
        if value:
            return str(value)
    return ""


def recommending_unit_name(season: Season, app: Any) -> str:
    """The 推荐单位 an application came through (the season's unit list when known, else the form's field)."""
    try:
        from award.units import unit_for  # the season's recommending units (when this season model has them)
    except ImportError:  # pragma: no cover - older season model
        unit_for = None  # type: ignore[assignment]
    if unit_for is not None:
        unit = unit_for(season, app)
        if unit is not None:
            return str(unit.name)
    return _field(app, "recommending_unit")


def build_proposal(session: Any, season: Season) -> Proposal:
    """The package the store describes right now (candidates ordered by group, then rank)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from award.recommendation.ranking import priority_label, priority_winner
    from award.store.models import Application, ReviewScore

    texts = package_texts()
    apps = session.scalars(
        select(Application)
        .where(Application.season == season.season_id, Application.state.in_(CANDIDATE_STATES))
        .options(selectinload(Application.applicant), selectinload(Application.materials))
    ).all()
    scores = {s.application_id: s for s in session.scalars(
        select(ReviewScore).where(ReviewScore.season == season.season_id))}
    group_order = {"organization": 0, "individual": 1}

    def order(app: Any) -> tuple[Any, ...]:
        s = scores.get(app.id)
        group = season.category(app.category).group
        return (group_order[group], s.rank if s and s.rank is not None else 10**6, app.submission_no)

    candidates: list[Candidate] = []
    problems: list[str] = []
    for nn, app in enumerate(sorted(apps, key=order), start=1):
        cat = season.category(app.category)
        s = scores.get(app.id)
        person = cat.group == "individual"
        name = app.applicant.name
        folder = f"{nn:02d}_{safe_name(name)}"
        cand = Candidate(
            nn=nn, application_id=app.id, submission_no=app.submission_no, name=name,
            code=app.applicant.key.split("/", 1)[0], category=app.category, category_label=cat.label,
            group=cat.group, city=app.city or app.applicant.city or _field(app, "city"),
            contact=(name if person else (app.applicant.contact_name or _field(app, "contact"))),
            phone=app.applicant.phone or _field(app, "contact_phone", "phone"),
            score=s.score if s else None, priority=bool(app.priority or (s.priority if s else False)),
            placement=(s.placement if s and s.placement else "none"), state=app.state, folder=folder,
            work_unit=_field(app, "employer", "work_unit") if person else "",
            recommending_unit=recommending_unit_name(season, app),
            priority_basis=priority_label(priority_winner(season, app.applicant.key)),
        )
        current = [m for m in app.materials if m.superseded_by_id is None and m.kind in PACKAGE_KINDS]
        current.sort(key=lambda m: (PACKAGE_KINDS.index(m.kind), m.id))
        counters: dict[str, int] = {}
        per_kind = {k: sum(1 for m in current if m.kind == k) for k in PACKAGE_KINDS}
        for m in current:
            counters[m.kind] = counters.get(m.kind, 0) + 1
            suffix = PurePosixPath(m.filename).suffix.lower() or ".bin"
            label = texts["kinds"][m.kind]
            numbered = m.kind in texts["numbered"] or per_kind[m.kind] > 1
            stem = f"{folder}_{label}" + (f"_{counters[m.kind]:02d}" if numbered else "")
            cand.files.append(PackageFile(f"{folder}/{stem}{suffix}", m.sha256, m.size, m.kind, m.id))
        required = [k for k in cat.required_materials if k in PACKAGE_KINDS]
        for kind in required:
            if per_kind.get(kind, 0) == 0:
                problems.append(_text("missing_material", submission_no=app.submission_no, name=name,
                                      label=texts["kinds"][kind], kind=kind))
        candidates.append(cand)
    return Proposal(season.season_id, candidates, _content_hash(season.season_id, candidates), problems)


def proposal(rt: Any) -> Proposal:
    """``build_proposal`` in its own read-only transaction."""
    from award.store import session_scope

    with session_scope(rt.db_url) as session:
        return build_proposal(session, rt.season)


def _latest(session: Any, season_id: str) -> Any:
    from sqlalchemy import select

    from award.store.models import Package

    return session.scalar(select(Package).where(Package.season == season_id).order_by(Package.version.desc()).limit(1))


def pending_work(rt: Any) -> dict[str, Any]:
    """What the approval step would be asked: {"needed", "content_hash", "count", "reason", "lines", ...}.

    Not needed when there is no candidate, when a candidate is still in publicity or objection, or when the
    latest package already carries this exact content (approved, compiled, verified or sent).
    """
    from sqlalchemy import func, select

    from award.store import session_scope
    from award.store.models import Application

    with session_scope(rt.db_url) as session:
        prop = build_proposal(session, rt.season)
        open_states = ("reviewed", "candidate", "candidate_publicity", "candidate_objection")
        still_open = session.scalar(select(func.count()).select_from(Application).where(
            Application.season == rt.season.season_id, Application.state.in_(open_states)))
        latest = _latest(session, rt.season.season_id)
        out: dict[str, Any] = {
            "needed": False, "content_hash": prop.content_hash, "count": len(prop.candidates),
            "lines": prop.summary_lines(), "problems": prop.problems,
            "latest_version": latest.version if latest else None,
            "latest_status": latest.status if latest else None,
        }
        if not prop.candidates:
            out["reason"] = _text("pending.no_candidates")
        elif still_open:
            out["reason"] = _text("pending.still_open", count=still_open)
        elif latest is not None and latest.content_hash == prop.content_hash and latest.status != "rejected":
            out["reason"] = _text("pending.same_content", version=latest.version,
                                  status=_status_label(latest.status))
            out["package_id"] = latest.id
            out["resume"] = latest.status in ("approved", "compiled", "verified", "failed")
        else:
            out["needed"] = True
            out["reason"] = (_text("pending.new_content") if latest is None
                             else _text("pending.content_differs", version=latest.version))
        return out


def approval_prompt(work: dict[str, Any]) -> str:
    """The leadership group's approval question (HITL body) for ``pending_work``'s result, all in Chinese."""
    status = work.get("latest_status")
    return _text("approval_prompt", count=work["count"], content_hash=work["content_hash"][:12],
                 lines=work["lines"], problems=work["problems"], version=work.get("latest_version"),
                 status=_status_label(status) if status else None, reason=work["reason"])


def _status_label(status: str) -> str:
    """A package version's status in Chinese (the code itself when unknown)."""
    labels = {"approved": _text("status.approved"), "rejected": _text("status.rejected"),
              "compiled": _text("status.compiled"), "verified": _text("status.verified"),
              "failed": _text("status.failed"), "sent": _text("status.sent")}
    return labels.get(status, status)


# ---------------------------------------------------------------- approval
def record_approval(
    rt: Any,
    *,
    content_hash: str,
    approved: bool,
    approver: str,
    opinion: str,
    doc_number: str,
    audit_doc_number: str = "",
    responded_by: str | None = None,
    actor: str = ACTOR,
) -> int:
    """Record the leadership group's decision on the proposal with ``content_hash``; returns the Package id.

    Approved: a new Package version (status "approved") and CANDIDATE_CONFIRMED -> RECOMMENDED. Rejected: a
    Package version with status "rejected" and no state change. The same decision recorded twice returns the
    existing version. A proposal that changed since it was shown raises PackageError (ask again).
    """
    from award.states import State, audit, transition
    from award.store import session_scope
    from award.store.models import Application, Package

    if approved and not (approver or "").strip():
        raise PackageError(_text("approver_required"))
    with session_scope(rt.db_url) as session:
        prop = build_proposal(session, rt.season)
        if prop.content_hash != content_hash:
            raise PackageError(_text("changed_during_approval"))
        latest = _latest(session, rt.season.season_id)
        status = "approved" if approved else "rejected"
        if latest is not None and latest.content_hash == content_hash and latest.status != "rejected" and approved:
            return int(latest.id)
        package = Package(
            season=rt.season.season_id, version=(latest.version + 1) if latest else 1, status=status,
            content_hash=content_hash, approved_by=approver.strip() or None, approval_text=opinion,
            approved_at=now(), created_at=now(),
            manifest={"doc_number": doc_number, "audit_doc_number": audit_doc_number, "responded_by": responded_by,
                      "candidates": len(prop.candidates)},
        )
        session.add(package)
        session.flush()
        if approved:
            for cand in prop.candidates:
                app = session.get(Application, cand.application_id)
                if app is not None and app.state == State.CANDIDATE_CONFIRMED.value:
                    transition(session, app, State.RECOMMENDED, actor=approver or actor,
                               reason=_text("audit.approved"),
                               details={"package_version": package.version, "content_hash": content_hash})
        audit(session, actor=approver or actor, entity_type="package", entity_id=package.id,
              action="approve" if approved else "reject", reason=opinion or None,
              details={"version": package.version, "content_hash": content_hash, "doc_number": doc_number,
                       "responded_by": responded_by, "candidates": [c.submission_no for c in prop.candidates]})
        return package.id


# ---------------------------------------------------------------- documents
LETTER_TEMPLATES = {"recommendation": "letters/recommendation_letter.yaml.j2",
                    "audit_opinion": "letters/audit_opinion.yaml.j2"}


def letter_text(season: Season, *, doc_number: str, when: date, org_count: int, person_count: int,
                kind: str = "recommendation") -> dict[str, Any]:
    """One letter's text: 推荐函 (``recommendation``, the leadership group's 推荐意见) or 审核意见
    (``audit_opinion``, the provincial market-regulation bureau's), from its template; issuer, signature and,
    when the season gives them, title and body wording come from ``season.letters``."""
    from award.templating import render_text

    letters = season.package_letters
    spec = getattr(letters, kind)
    unit = season.recommending_unit
    context = {
        "spec": spec, "doc_number": doc_number, "edition": season.award.edition, "award": season.award.name,
        "recipient": season.national.recipient_name, "province": season.province.name,
        "audit_issuer": letters.audit_opinion.issuer, "recommendation_issuer": letters.recommendation.issuer,
        "org_count": org_count, "person_count": person_count, "date": when,
        "min_workdays": season.publicity.min_workdays, "contact": unit.contact, "phone": unit.phone,
    }
    text: dict[str, Any] = yaml_load(render(LETTER_TEMPLATES[kind], **context))
    if spec.title:
        text["title"] = render_text(spec.title, **context)
    if spec.body:
        text["body"] = [render_text(p, **context) for p in spec.body]
    return text


def write_letter(path: Path, season: Season, *, doc_number: str, when: datetime, org_count: int,
                 person_count: int, kind: str = "recommendation") -> None:
    """推荐函 or 审核意见 as .docx in the GB/T 9704-2012 layout (award.officialdoc)."""
    from award.officialdoc import OfficialDocument

    t = letter_text(season, doc_number=doc_number, when=when.date(), org_count=org_count,
                    person_count=person_count, kind=kind)
    doc = OfficialDocument(title=t["title"], when=when)
    doc.letterhead(t["issuer"], t["doc_number"])
    doc.heading(t["title"])
    doc.addressee(t["recipient"])
    doc.body(t["body"])
    doc.closing(attachments=t["attachments"], signature=t["signature"], date=t["date"], note=t["contact"])
    doc.save(path)


def summary_header(season: Season) -> list[str]:
    """The 汇总表's column headers: the season's columns, labelled by the season or the catalogue."""
    labels = package_texts()["summary"]["labels"]
    return [c.label or labels[c.field] for c in season.national.summary_columns]


def _summary_rows(season: Season, candidates: list[Candidate]) -> list[list[Any]]:
    """One row per candidate with the season's columns (no scores, no award tier: 附件8 describes candidates)."""
    values = {
        "nn": lambda c: c.nn, "name": lambda c: c.name, "category": lambda c: c.category_label,
        "city": lambda c: c.city, "work_unit": lambda c: c.work_unit,
        "recommending_unit": lambda c: c.recommending_unit, "contact": lambda c: c.contact,
        "phone": lambda c: c.phone, "code": lambda c: c.code, "submission_no": lambda c: c.submission_no,
    }
    return [[values[col.field](c) for col in season.national.summary_columns] for c in candidates]


# column widths in mm for the landscape summary table, scaled to the type area (243 mm) for any column set
SUMMARY_BASE_WIDTHS_MM = {"nn": 12, "name": 52, "category": 30, "city": 22, "work_unit": 40,
                          "recommending_unit": 36, "contact": 18, "phone": 33, "code": 48, "submission_no": 28}
SUMMARY_TYPE_AREA_MM = 243
SUMMARY_ONE_LINE = frozenset({"nn", "phone", "code", "submission_no"})  # codes and numbers never wrap in a cell
XLSX_WIDTHS = {"nn": 6, "name": 36, "category": 24, "city": 12, "work_unit": 28, "recommending_unit": 26,
               "contact": 10, "phone": 16, "code": 24, "submission_no": 16}


def summary_widths_mm(season: Season) -> list[float]:
    base = [SUMMARY_BASE_WIDTHS_MM[c.field] for c in season.national.summary_columns]
    return [round(w * SUMMARY_TYPE_AREA_MM / sum(base), 1) for w in base]


def _summary_fmt(season: Season, when: datetime) -> dict[str, str]:
    return {"edition": season.award.edition, "award": season.award.name, "unit": season.recommending_unit.name,
            "date": cn_date(when)}


def write_summary_docx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (附件8, .docx, landscape A4, award.officialdoc page set-up)."""
    from award.officialdoc import OfficialDocument

    texts = package_texts()["summary"]
    fmt = _summary_fmt(season, when)
    title = texts["title"].format(**fmt)
    doc = OfficialDocument(title=title, when=when, landscape=True)
    doc.paragraph(title, role="title", align="center")
    doc.paragraph(texts["unit_line"].format(**fmt) + "　　" + texts["date_line"].format(**fmt), align="left",
                  size=14)
    one_line = [i for i, c in enumerate(season.national.summary_columns) if c.field in SUMMARY_ONE_LINE]
    doc.table([summary_header(season), *_summary_rows(season, candidates)], widths_mm=summary_widths_mm(season),
              one_line=one_line)
    doc.save(path)


def write_summary_xlsx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (附件8, .xlsx): title row, unit/date row, header row, one row per candidate."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    texts = package_texts()["summary"]
    fmt = _summary_fmt(season, when)
    wb = Workbook()
    ws = wb.active
    ws.title = texts["sheet"]
    columns = summary_header(season)
    ws.append([texts["title"].format(**fmt)])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([texts["unit_line"].format(**fmt) + "    " + texts["date_line"].format(**fmt)])
    ws.append(columns)
    for row in _summary_rows(season, candidates):
        ws.append(row)
    for i, col in enumerate(season.national.summary_columns, start=1):
        letter = ws.cell(row=3, column=i).column_letter
        ws.column_dimensions[letter].width = XLSX_WIDTHS[col.field]
        if col.field in ("phone", "code", "submission_no"):  # stay text (no scientific notation)
            for (cell,) in ws.iter_rows(min_row=4, min_col=i, max_col=i):
                cell.number_format = "@"
    wb.properties.created = wb.properties.modified = when.replace(microsecond=0, tzinfo=None)
    wb.save(str(path))


def write_ranking_sheet(path: Path, season: Season, rows: list[dict[str, Any]], when: datetime) -> None:
    """内部排序表 for the leadership group: every ranked application with its score, priority basis and place.

    Internal: it is never zipped, copied to the disc folder, uploaded to the national location or mailed.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    texts = package_texts()["ranking_sheet"]
    wb = Workbook()
    ws = wb.active
    ws.title = texts["sheet"]
    ws.append([texts["title"].format(edition=season.award.edition, award=season.award.name)])
    ws["A1"].font = Font(size=14, bold=True)
    ws.append(texts["columns"])
    for r in rows:
        label = season.category(r["category"]).label
        ws.append([texts["groups"].get(r["group"], r["group"]), r["rank"], r["submission_no"], r["name"], label,
                   r.get("city") or "", r["score"], r["priority_basis"],
                   texts["placements"].get(r["placement"] or "none", r["placement"]), r["state"]])
    wb.properties.created = wb.properties.modified = when.replace(microsecond=0, tzinfo=None)
    wb.save(str(path))


def cover_sheet_text(season: Season, *, version: int, count: int, volumes: int) -> dict[str, Any]:
    """The postal cover sheet's text (templates/letters/cover_sheet.yaml.j2)."""
    texts = package_texts()
    sheet: dict[str, Any] = yaml_load(render(
        "letters/cover_sheet.yaml.j2", edition=season.award.edition, award=season.award.name, version=version,
        national=season.national, unit=season.recommending_unit, contact=mail_contact(season),
        mobile=season.national.contact_mobile, count=count, copies=texts["print"]["copies"],
        disc_dir=texts["disc_dir"], volumes=volumes,
    ))
    return sheet


def write_cover_sheet(path: Path, season: Season, *, version: int, count: int, volumes: int,
                      when: datetime) -> None:
    """邮寄封面 (.docx): the secretariat's postal address, the sender, and what the parcel holds."""
    from award.officialdoc import OfficialDocument

    t = cover_sheet_text(season, version=version, count=count, volumes=volumes)
    doc = OfficialDocument(title=t["title"], when=when)
    doc.paragraph(t["title"], role="title", align="center")
    doc.blank()
    for line in t["lines"]:
        doc.paragraph(line, align="left")
    doc.save(path)


def mail_sender(season: Season) -> str:
    """推荐单位名称 of the national mail's subject."""
    return season.national.sender_name or season.recommending_unit.name


def mail_contact(season: Season) -> str:
    """联系人 of the national mail's subject."""
    return season.national.contact_name or season.recommending_unit.contact


def mail_subject_base(season: Season) -> str:
    """推荐单位名称+联系人+手机号码; PackageError when the season has no mobile number for it."""
    if not season.national.contact_mobile:
        raise PackageError(_text("mobile_missing"))
    return f"{mail_sender(season)}+{mail_contact(season)}+{season.national.contact_mobile}"


# ---------------------------------------------------------------- volumes
MAIL_OVERHEAD_BYTES = 64 * 1024  # headers and body text of one mail


def mail_size(attachment_bytes: int) -> int:
    """The size of a mail carrying attachments of this total size (base64: 4/3, plus line ends and headers)."""
    return attachment_bytes * 4 // 3 + attachment_bytes // 38 + MAIL_OVERHEAD_BYTES


def attachment_budget(limit_mb: int) -> int:
    """The attachment bytes one mail may carry under the season's mail size limit."""
    limit = limit_mb * 1024 * 1024
    return max(1, (limit - MAIL_OVERHEAD_BYTES) * 38 * 3 // (38 * 4 + 3))


def _zip_entry_cost(path: str, size: int) -> int:
    return size + 200 + 2 * len(path.encode("utf-8"))


def plan_volumes(entries: list[tuple[str, int]], *, budget: int, first_extra: int = 0) -> list[list[str]]:
    """Split the electronic files (in order) into volumes that each fit one mail's ``budget``.

    ``first_extra`` is what the first mail carries besides its zip (the loose letters). Files are never split;
    a file larger than the budget gets a volume of its own (verification then names it).
    """
    volumes: list[list[str]] = [[]]
    used = first_extra + 22
    for path, size in entries:
        cost = _zip_entry_cost(path, size)
        if volumes[-1] and used + cost > budget:
            volumes.append([])
            used = 22
        volumes[-1].append(path)
        used += cost
    return volumes


# ---------------------------------------------------------------- compile
def package_root(season_id: str, version: int) -> Path:
    """Where a version is built: <AWARD_DATA_DIR>/packages/<season>/v<NN>/."""
    from award.runtime import data_dir

    return data_dir() / "packages" / season_id / f"v{version:02d}"


def compress_type(name: str) -> int:
    """ZIP_STORED for formats that are already compressed, ZIP_DEFLATED otherwise."""
    return zipfile.ZIP_STORED if PurePosixPath(name).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED


def zip_folder(folder: Path, zip_path: Path, order: list[str]) -> None:
    """Zip ``order`` (paths relative to ``folder``) under the folder's name, streaming each file."""
    with zipfile.ZipFile(zip_path, "w", allowZip64=True) as zf:
        for rel in order:
            zf.write(folder / rel, f"{folder.name}/{rel}", compress_type=compress_type(rel), compresslevel=6)


def _copy_blob(blobs: Any, sha256: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(blobs, "copy_to"):
        blobs.copy_to(sha256, dest)
        return
    with blobs.open(sha256) as src, open(dest, "wb") as out:  # pragma: no cover - every store has copy_to
        shutil.copyfileobj(src, out, CHUNK)


@dataclass
class Compiled:
    """A compiled version."""

    package_id: int
    version: int
    folder: Path
    zip_path: Path
    zip_sha256: str
    files: int
    volumes: int = 1


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link a file into the disc folder (same bytes, no extra space), or copy it across file systems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _print_items(season: Season, prop: Proposal, names: dict[str, str]) -> dict[str, Any]:
    """The print list: the letters and the summary once each (no .xlsx twin), and per candidate one bound set of
    the 申报表 (one format: the PDF when there is one) and its 证实性材料, 一式三份."""
    texts = package_texts()
    pr = texts["print"]
    letters = [
        {"path": names["letter"], "copies": pr["letter_copies"], "note": _text_print("note_sealed")},
        {"path": names["audit_opinion"], "copies": pr["letter_copies"], "note": _text_print("note_sealed")},
        {"path": names["summary_docx"], "copies": pr["letter_copies"], "note": _text_print("note_summary")},
    ]
    candidates = []
    for c in prop.candidates:
        forms = [f for f in c.files if f.kind in ("form_pdf", "form_docx")]
        form = next((f for f in forms if f.kind == "form_pdf"), forms[0] if forms else None)
        paths = ([form.path] if form else []) + [f.path for f in c.files if f.kind not in ("form_pdf", "form_docx")]
        candidates.append({"title": pr["candidate_title"].format(nn=f"{c.nn:02d}", name=c.name, folder=c.folder),
                           "paths": paths})
    per_set = sum(len(c["paths"]) for c in candidates)
    return {"letters": letters, "candidates": candidates, "copies": pr["copies"], "per_set": per_set,
            "material_prints": per_set * pr["copies"]}


def _text_print(key: str) -> str:
    return str(package_texts()["print"][key])


def compile_package(rt: Any, package_id: int, *, root: Path | None = None) -> Compiled:
    """Build the approved version: the package folder, its zip, the mail volumes and the staff documents.

    The package folder holds the electronic material (推荐函, 审核意见, 汇总表 .docx/.xlsx, one folder per
    candidate, manifest.json), a ready-to-copy disc folder (光盘_U盘) with the same files, and the staff's
    打印清单 and 邮寄封面. The 内部排序表 is written next to the folder: it is never zipped, mailed or uploaded.
    Raises PackageError when the version is not approved or the store's content no longer matches the
    approved hash (a change after approval needs a new approval). Safe to repeat (the folder is rebuilt).
    """
    from award.recommendation.ranking import ranking_table
    from award.store import session_scope
    from award.store.models import Package

    season = rt.season
    texts = package_texts()
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        if package is None:
            raise PackageError(f"package {package_id} not found")
        if package.status == "sent":
            raise PackageError(_text("already_sent", version=package.version))
        if package.status == "rejected" or not package.approved_by:
            raise PackageError(_text("not_approved_version", version=package.version))
        prop = build_proposal(session, season)
        if prop.content_hash != package.content_hash:
            raise PackageError(_text("changed_since_approval_version", version=package.version))
        version, doc_number = package.version, str(package.manifest.get("doc_number") or "")
        audit_number = str(package.manifest.get("audit_doc_number") or "")
        approved_at = package.approved_at or now()
        meta = dict(package.manifest)
        ranking_rows = ranking_table(session, season)

    base = (root or package_root(season.season_id, version))
    folder_name = texts["folder"].format(unit=safe_name(season.recommending_unit.name),
                                         edition=season.award.edition, award=season.award.name, version=version)
    if base.exists():
        shutil.rmtree(base)
    folder = base / folder_name
    folder.mkdir(parents=True)
    names = texts["files"]
    org = sum(1 for c in prop.candidates if c.group == "organization")
    person = len(prop.candidates) - org
    write_letter(folder / names["letter"], season, doc_number=doc_number, when=approved_at, org_count=org,
                 person_count=person, kind="recommendation")
    write_letter(folder / names["audit_opinion"], season, doc_number=audit_number, when=approved_at,
                 org_count=org, person_count=person, kind="audit_opinion")
    write_summary_docx(folder / names["summary_docx"], season, prop.candidates, approved_at)
    write_summary_xlsx(folder / names["summary_xlsx"], season, prop.candidates, approved_at)
    write_ranking_sheet(base / names["ranking_sheet"], season, ranking_rows, approved_at)
    for cand in prop.candidates:
        for f in cand.files:
            _copy_blob(rt.blobs, f.sha256, folder / f.path)

    # the electronic material: what the zip, the disc folder and the mail volumes carry
    generated = [names["letter"], names["audit_opinion"], names["summary_docx"], names["summary_xlsx"]]
    file_entries = []
    for rel in generated:
        sha, size = sha256_file(folder / rel)
        file_entries.append({"path": rel, "sha256": sha, "size": size, "source": "generated"})
    for cand in prop.candidates:
        for f in cand.files:
            file_entries.append({"path": f.path, "sha256": f.sha256, "size": f.size, "source": "material",
                                 "kind": f.kind, "material_id": f.material_id, "application_id": cand.application_id})
    manifest: dict[str, Any] = {
        "season": season.season_id, "award": season_label(season), "unit": season.recommending_unit.name,
        "version": version, "doc_number": doc_number, "audit_doc_number": audit_number,
        "content_hash": prop.content_hash, "created_at": now().isoformat(), "folder": folder_name,
        "candidates": [
            {"nn": c.nn, "submission_no": c.submission_no, "name": c.name, "group": c.group,
             "category": c.category, "folder": c.folder, "application_id": c.application_id,
             "files": [f.path for f in c.files]}
            for c in prop.candidates
        ],
        "files": file_entries,
    }
    # volumes: the first mail also carries the letters and the summary loose (easy to read at once)
    loose = ["letter", "audit_opinion", "summary_docx", "summary_xlsx"]
    loose_size = sum((folder / names[k]).stat().st_size for k in loose)
    draft_size = len(json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
    entries = [(names["manifest"], draft_size * 2 + 8192)] + [(e["path"], e["size"]) for e in file_entries]
    planned = plan_volumes(entries, budget=attachment_budget(season.national.attachment_limit_mb),
                           first_extra=loose_size)
    count = len(planned)

    def volume_name(i: int) -> str:
        if count == 1:
            return f"{folder_name}.zip"
        return str(texts["volume_zip"].format(folder=folder_name, volume=i, volumes=count))

    manifest["volumes"] = [{"volume": i, "of": count, "filename": volume_name(i), "files": paths}
                           for i, paths in enumerate(planned, start=1)]
    (folder / names["manifest"]).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    electronic = [names["manifest"], *generated, *[f.path for c in prop.candidates for f in c.files]]
    disc = folder / texts["disc_dir"]
    for rel in electronic:
        _link_or_copy(folder / rel, disc / rel)
    zip_path = base / f"{folder_name}.zip"
    zip_folder(folder, zip_path, [*generated, *[f.path for c in prop.candidates for f in c.files], names["manifest"]])
    volume_docs = []
    for vol in manifest["volumes"]:
        vol_path = zip_path if count == 1 else base / vol["filename"]
        if count > 1:
            zip_folder(folder, vol_path, vol["files"])
        ref = rt.blobs.put_file(vol_path, link=count > 1)
        volume_docs.append({"volume": vol["volume"], "of": count, "filename": vol["filename"],
                            "sha256": ref.sha256, "size": ref.size, "files": vol["files"]})

    # the staff's documents: the print list and the postal cover sheet (in the folder, not in the zip)
    print_list = render(
        "letters/print_list.txt.j2", edition=season.award.edition, award=season.award.name, version=version,
        unit=season.recommending_unit, national=season.national, disc_dir=texts["disc_dir"],
        content_hash=prop.content_hash, **_print_items(season, prop, names),
    )
    (folder / names["print_list"]).write_text(print_list, encoding="utf-8")
    write_cover_sheet(folder / names["cover_sheet"], season, version=version, count=len(prop.candidates),
                      volumes=count, when=approved_at)

    zip_ref = rt.blobs.put_file(zip_path, link=True)  # the package folder is never edited in place
    docs = {}
    for key in ("letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest", "print_list", "cover_sheet"):
        ref = rt.blobs.put_file(folder / names[key])
        docs[key] = {"filename": names[key], "sha256": ref.sha256, "size": ref.size}
    ref = rt.blobs.put_file(base / names["ranking_sheet"])
    internal = {"ranking_sheet": {"filename": names["ranking_sheet"], "sha256": ref.sha256, "size": ref.size}}
    docs["zip"] = {"filename": zip_path.name, "sha256": zip_ref.sha256, "size": zip_ref.size}

    from award.states import audit

    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        assert package is not None
        package.path = str(folder)
        package.zip_sha256 = zip_ref.sha256
        package.manifest = {**meta, **manifest, "documents": docs, "internal": internal,
                            "volume_docs": volume_docs, "disc_dir": texts["disc_dir"]}
        package.status = "compiled"
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="compile",
              details={"version": version, "zip_sha256": zip_ref.sha256, "files": len(file_entries),
                       "zip_size": zip_ref.size, "volumes": count})
    log.info("compiled package v%d: %d files, zip %d bytes, %d volume(s)", version, len(file_entries),
             zip_ref.size, count)
    return Compiled(package_id, version, folder, zip_path, zip_ref.sha256, len(file_entries), count)


# ---------------------------------------------------------------- verify
@contextmanager
def _local_copy(blobs: Any, sha256: str) -> Iterator[Path]:
    """A local file with the blob's bytes (the store's own file when it is local)."""
    if hasattr(blobs, "path"):
        yield blobs.path(sha256)
        return
    with tempfile.TemporaryDirectory(prefix="award-pkg-") as tmp:
        dest = Path(tmp) / sha256
        blobs.copy_to(sha256, dest)
        yield dest


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with zf.open(name) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# The verification is a list of rules (``PACKAGE_RULES``), run in order by ``check_package``, in the style of
# ``award.completeness.rules.RULES``: each rule looks at one thing and adds its problems (``PackageCheck.add``). A gate rule
# that finds nothing to look at further (no zip compiled, or none stored) sets ``stop``. To check something new,
# write a rule with a docstring, add its message under ``recommendation.package`` in the catalogue and put the
# rule in the list.
@dataclass
class PackageCheck:
    """What the package rules look at (a compiled version, its manifest and zip), and the problems found."""

    session: Any
    rt: Any
    package: Any
    stack: ExitStack  # closes the zip (and its local copy) when the check ends
    problems: list[str] = field(default_factory=list)
    stop: bool = False  # a gate rule found nothing further to check

    def add(self, key: str, **params: Any) -> None:
        self.problems.append(_text(key, **params))

    @property
    def season(self) -> Season:
        season: Season = self.rt.season
        return season

    @cached_property
    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = self.package.manifest or {}
        return manifest

    @cached_property
    def expected(self) -> dict[str, dict[str, Any]]:
        """The files the manifest lists, by path."""
        return {f["path"]: f for f in self.manifest.get("files", [])}

    @cached_property
    def names(self) -> dict[str, str]:
        names: dict[str, str] = package_texts()["files"]
        return names

    @cached_property
    def documents(self) -> dict[str, Any]:
        docs: dict[str, Any] = self.manifest.get("documents", {})
        return docs

    @cached_property
    def zip_path(self) -> Path:
        return self.stack.enter_context(_local_copy(self.rt.blobs, self.package.zip_sha256))

    @cached_property
    def zip(self) -> zipfile.ZipFile:
        return self.stack.enter_context(zipfile.ZipFile(self.zip_path))

    @cached_property
    def members(self) -> list[str]:
        """The zip's file names (directories left out), in the zip's order."""
        return [i.filename for i in self.zip.infolist() if not i.is_dir()]

    @cached_property
    def inside(self) -> dict[str, str]:
        """The zip members under the package folder, by their path relative to it."""
        prefix = f"{self.manifest.get('folder', '')}/"
        return {name[len(prefix):]: name for name in self.members if name.startswith(prefix)}

    def stored(self, key: str) -> bool:
        """Whether the recorded document ``key`` is in the blob store."""
        return key in self.documents and bool(self.rt.blobs.exists(self.documents[key]["sha256"]))


def _rule_approved(v: PackageCheck) -> None:
    """The version was approved by a named person, at a recorded time, and not rejected since."""
    if not v.package.approved_by or v.package.approved_at is None or v.package.status == "rejected":
        v.add("not_approved")


def _rule_compiled(v: PackageCheck) -> None:
    """A zip was compiled (gate: without one there is nothing else to check)."""
    if not v.package.zip_sha256:
        v.add("not_compiled")
        v.stop = True


def _rule_content_unchanged(v: PackageCheck) -> None:
    """The store still gives the approved content, and the proposal has no problems of its own."""
    prop = build_proposal(v.session, v.season)
    if prop.content_hash != v.package.content_hash:
        v.add("changed_since_approval")
    v.problems.extend(prop.problems)


def _rule_zip_stored(v: PackageCheck) -> None:
    """The zip is in the blob store (gate: the rules below read it)."""
    if not v.rt.blobs.exists(v.package.zip_sha256):
        v.add("zip_missing")
        v.stop = True


def _rule_zip_checksum(v: PackageCheck) -> None:
    """The zip's bytes have the recorded SHA-256."""
    sha, _size = sha256_file(v.zip_path)
    if sha != v.package.zip_sha256:
        v.add("zip_checksum")


def _rule_zip_one_folder(v: PackageCheck) -> None:
    """Every file in the zip lies inside the package folder."""
    prefix = f"{v.manifest.get('folder', '')}/"
    for name in v.members:
        if not name.startswith(prefix):
            v.add("outside_folder", name=name)


def _rule_zip_nothing_unlisted(v: PackageCheck) -> None:
    """The zip holds no file that the manifest does not list."""
    for rel in sorted(set(v.inside) - set(v.expected) - {v.names["manifest"]}):
        v.add("unlisted_file", path=rel)


def _rule_zip_files_match(v: PackageCheck) -> None:
    """Every listed file is in the zip, with its recorded SHA-256 and size."""
    for rel, entry in v.expected.items():
        if rel not in v.inside:
            v.add("missing_file", path=rel)
        elif _hash_member(v.zip, v.inside[rel]) != (entry["sha256"], entry["size"]):
            v.add("file_checksum", path=rel)


def _rule_zip_manifest(v: PackageCheck) -> None:
    """The manifest inside the zip lists the same files and volumes as the recorded one."""
    name = v.names["manifest"]
    if name not in v.inside:
        v.add("manifest_missing")
        return
    inner = json.loads(v.zip.read(v.inside[name]).decode("utf-8"))
    if inner.get("files") != v.manifest.get("files") or inner.get("volumes") != v.manifest.get("volumes"):
        v.add("manifest_differs")


_DOCUMENTS = ("letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest", "print_list", "cover_sheet")
_LOOSE_DOCUMENTS = ("letter", "audit_opinion", "summary_docx", "summary_xlsx")  # attached beside volume 1


def _rule_documents_stored(v: PackageCheck) -> None:
    """Both letters, the summary, the manifest, the print list and the cover sheet exist as recorded."""
    for key in _DOCUMENTS:
        doc = v.documents.get(key)
        if doc is None or not v.rt.blobs.exists(doc["sha256"]):
            v.add("document_missing", name=v.names[key])


def _rule_documents_packaged(v: PackageCheck) -> None:
    """Both letters and the summary (Word and Excel) are among the package's files."""
    for key in _LOOSE_DOCUMENTS:
        if v.names[key] not in v.expected:
            v.add("document_not_packaged", name=v.names[key])


def _docx_texts(rt: Any, sha256: str) -> list[str]:
    from docx import Document

    with _local_copy(rt.blobs, sha256) as path:
        return [p.text for p in Document(str(path)).paragraphs]


def _rule_letters_issuer(v: PackageCheck) -> None:
    """Each letter starts with the season's issuer and carries its signature."""
    letters = v.season.package_letters
    for key, spec in (("letter", letters.recommendation), ("audit_opinion", letters.audit_opinion)):
        if v.stored(key):
            lines = _docx_texts(v.rt, v.documents[key]["sha256"])
            if not lines or lines[0] != spec.issuer or spec.signature not in lines:
                v.add("letter_issuer", name=v.names[key], issuer=spec.issuer)


def _rule_cover_sheet(v: PackageCheck) -> None:
    """The season names the secretariat's postal address, and the postal cover sheet shows it."""
    national = v.season.national
    if not national.postal_address or not national.postcode:
        v.add("postal_address_missing")
    elif v.stored("cover_sheet"):
        cover = "".join(_docx_texts(v.rt, v.documents["cover_sheet"]["sha256"]))
        for part in (national.recipient_name, national.postal_address, national.postcode):
            if part not in cover:
                v.add("cover_sheet_differs", part=part)


def _rule_ranking_sheet_internal(v: PackageCheck) -> None:
    """The internal ranking sheet stays out of the package."""
    if v.names["ranking_sheet"] in v.expected:
        v.add("internal_in_package", name=v.names["ranking_sheet"])


def _rule_volumes(v: PackageCheck) -> None:
    """Every mail volume exists, fits the mail size limit, and together they carry exactly the files listed."""
    volumes = v.manifest.get("volume_docs") or []
    if not volumes:
        v.add("volumes_missing")
        return
    carried: list[str] = []
    for vol in volumes:
        carried += _check_volume(v, vol)
    if sorted(carried) != sorted([*v.expected, v.names["manifest"]]):
        v.add("volumes_differ")


def _check_volume(v: PackageCheck, vol: dict[str, Any]) -> list[str]:
    """One volume: stored, within the mail size limit, its files unchanged. Returns the paths it carries."""
    if not v.rt.blobs.exists(vol["sha256"]):
        v.add("volume_missing", volume=vol["volume"], volumes=vol["of"])
        return []
    _check_volume_size(v, vol)
    return _check_volume_files(v, vol)


def _check_volume_size(v: PackageCheck, vol: dict[str, Any]) -> None:
    """The volume fits the mail size limit (volume 1 with the letters and the summary attached beside it)."""
    limit_mb = v.season.national.attachment_limit_mb
    loose = sum(v.documents[k]["size"] for k in _LOOSE_DOCUMENTS if k in v.documents) if vol["volume"] == 1 else 0
    if mail_size(vol["size"] + loose) > limit_mb * 1024 * 1024:
        biggest = max(vol["files"], key=lambda p: v.expected.get(p, {}).get("size", 0))
        v.add("volume_too_large", volume=vol["volume"], volumes=vol["of"], limit_mb=limit_mb, path=biggest)


def _check_volume_files(v: PackageCheck, vol: dict[str, Any]) -> list[str]:
    """The volume's listed files have their recorded SHA-256 and size. Returns the paths it carries."""
    carried: list[str] = []
    with _local_copy(v.rt.blobs, vol["sha256"]) as path, zipfile.ZipFile(path) as zf:
        for name in (i.filename for i in zf.infolist() if not i.is_dir()):
            rel = name.removeprefix(f"{v.manifest.get('folder', '')}/")
            carried.append(rel)
            entry = v.expected.get(rel)
            if entry is not None and _hash_member(zf, name) != (entry["sha256"], entry["size"]):
                v.add("file_checksum", path=f"{vol['filename']}:{rel}")
    return carried


def _rule_disc(v: PackageCheck) -> None:
    """The ready-to-copy disc folder holds every listed file unchanged (checked where the folder is)."""
    if not v.package.path or not Path(v.package.path).is_dir():
        return
    disc = Path(v.package.path) / v.manifest.get("disc_dir", package_texts()["disc_dir"])
    for rel, entry in v.expected.items():
        target = disc / rel
        if not target.is_file():
            v.add("disc_missing", path=rel)
        elif sha256_file(target) != (entry["sha256"], entry["size"]):
            v.add("disc_differs", path=rel)
    if not (disc / v.names["manifest"]).is_file():
        v.add("disc_missing", path=v.names["manifest"])


def _rule_materials_current(v: PackageCheck) -> None:
    """Each packaged material is its candidate's current version, and its original is still stored."""
    from award.store.models import Material

    for entry in v.expected.values():
        if entry.get("source") != "material":
            continue
        material = v.session.get(Material, entry["material_id"])
        if material is None or material.application_id != entry["application_id"]:
            v.add("foreign_file", path=entry["path"])
        elif material.sha256 != entry["sha256"] or material.superseded_by_id is not None:
            v.add("stale_file", path=entry["path"])
        elif not v.rt.blobs.exists(material.sha256):
            v.add("original_missing", path=entry["path"])


def _rule_candidates_approved(v: PackageCheck) -> None:
    """The package carries exactly the approved candidates of the season."""
    from sqlalchemy import select

    from award.store.models import Application

    in_package = {c["application_id"]: c for c in v.manifest.get("candidates", [])}
    approved = v.session.scalars(select(Application).where(
        Application.season == v.season.season_id, Application.state.in_(APPROVED_STATES))).all()
    for app in approved:
        if app.id not in in_package:
            v.add("approved_not_packaged", submission_no=app.submission_no)
    approved_ids = {a.id for a in approved}
    for app_id, cand in in_package.items():
        if app_id not in approved_ids:
            v.add("unapproved_packaged", submission_no=cand["submission_no"], name=cand["name"])


def _rule_required_materials(v: PackageCheck) -> None:
    """Each candidate's packaged files include every material its category requires."""
    from award.store.models import Application

    for cand in v.manifest.get("candidates", []):
        app = v.session.get(Application, cand["application_id"])
        if app is None:
            continue
        kinds = {v.expected[p]["kind"] for p in cand["files"] if p in v.expected}
        for kind in v.season.category(app.category).required_materials:
            if kind in PACKAGE_KINDS and kind not in kinds:
                v.add("packaged_missing_material", submission_no=cand["submission_no"], name=cand["name"],
                      label=package_texts()["kinds"][kind])


PACKAGE_RULES: tuple[Callable[[PackageCheck], None], ...] = (
    _rule_approved,
    _rule_compiled,
    _rule_content_unchanged,
    _rule_zip_stored,
    _rule_zip_checksum,
    _rule_zip_one_folder,
    _rule_zip_nothing_unlisted,
    _rule_zip_files_match,
    _rule_zip_manifest,
    _rule_documents_stored,
    _rule_documents_packaged,
    _rule_letters_issuer,
    _rule_cover_sheet,
    _rule_ranking_sheet_internal,
    _rule_volumes,
    _rule_disc,
    _rule_materials_current,
    _rule_candidates_approved,
    _rule_required_materials,
)


def check_package(session: Any, rt: Any, package: Any) -> list[str]:
    """Every problem with a compiled version (empty list: fine to send), in ``PACKAGE_RULES`` order."""
    with ExitStack() as stack:
        check = PackageCheck(session, rt, package, stack)
        for rule in PACKAGE_RULES:
            rule(check)
            if check.stop:
                break
    return list(dict.fromkeys(check.problems))


@dataclass
class VerifyReport:
    """The outcome of a verification."""

    package_id: int
    version: int
    ok: bool
    problems: list[str]


def verify_package(rt: Any, package_id: int, *, raise_on_failure: bool = True) -> VerifyReport:
    """Check a compiled version; a failure marks it failed, sends ops a report (outbox) and raises."""
    from award.mail.outbox import enqueue
    from award.states import audit
    from award.store import session_scope
    from award.store.models import Package

    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        if package is None:
            raise PackageError(f"package {package_id} not found")
        if package.status == "sent":
            return VerifyReport(package_id, package.version, True, [])
        problems = check_package(session, rt, package)
        report = VerifyReport(package_id, package.version, not problems, problems)
        package.status = "verified" if report.ok else "failed"
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id,
              action="verify" if report.ok else "verify_failed", details={"problems": problems[:50]})
        if problems:
            digest = hashlib.sha256("\n".join(problems).encode()).hexdigest()[:12]
            unit = rt.season.recommending_unit
            enqueue(
                session, key=f"recommendation:staff_notice:package-{rt.season.season_id}-v{package.version}:{digest}",
                template="staff_notice", to=[str(unit.ops_email)],
                context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                         "season_label": season_label(rt.season),
                         "title": _text("verify_failed_title", version=package.version),
                         "text": _text("verify_failed_text"), "items": problems[:50]},
            )
    if problems and raise_on_failure:
        raise PackageVerificationError(problems)
    return report


# ---------------------------------------------------------------- export
@dataclass
class ExportResult:
    """What the export did."""

    package_id: int
    version: int
    sent_now: bool
    email_ids: list[int]
    storage_prefix: str
    volumes: int


def national_prefix(season: Season, version: int) -> str:
    """The national-submission storage key prefix of a version (the office's own copy; never linked in mail)."""
    base = season.national.storage_uri.strip("/")
    return f"{base}/{season.season_id}/v{version:02d}/"


def _alert_mobile_missing(rt: Any, version: int) -> None:
    """Tell ops (outbox, once per version) that the national mail cannot go without a mobile number."""
    from award.mail.outbox import enqueue
    from award.store import session_scope

    unit = rt.season.recommending_unit
    with session_scope(rt.db_url) as session:
        enqueue(
            session, key=f"recommendation:staff_notice:mobile-missing-{rt.season.season_id}-v{version}",
            template="staff_notice", to=[str(unit.ops_email)],
            context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                     "season_label": season_label(rt.season), "title": _text("mobile_missing_title"),
                     "text": _text("mobile_missing"), "items": []},
        )


def export_package(rt: Any, package_id: int) -> ExportResult:
    """Upload a verified version to the office's national-submission location and queue the e-mails to the
    national address: one per volume, subject 推荐单位名称+联系人+手机号码 (+ 第k卷/共N卷), never a link.

    Refused (PackageError, ops alerted) while the season has no mobile number for the subject. Re-running
    after the send does nothing (the Package is "sent"; the outbox keys are per version and volume).
    """
    from award.mail.outbox import enqueue
    from award.states import State, audit, transition
    from award.store import session_scope
    from award.store.models import Application, Package

    season = rt.season
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        if package is None:
            raise PackageError(f"package {package_id} not found")
        if package.status == "sent":
            return ExportResult(package_id, package.version, False, list(package.manifest.get("email_ids") or []),
                                national_prefix(season, package.version),
                                len(package.manifest.get("volume_docs") or []))
        if package.status != "verified":
            raise PackageError(_text("not_verified", version=package.version, status=package.status))
        version = package.version
        docs = dict(package.manifest["documents"])
        manifest = dict(package.manifest)
    try:
        subject_base = mail_subject_base(season)
    except PackageError:
        _alert_mobile_missing(rt, version)
        log.error("national mail refused: national.contact_mobile is not set in the season file")
        raise

    prefix = national_prefix(season, version)
    uploaded: dict[str, str] = {}
    volumes = manifest["volume_docs"]
    uploads = [docs[k] for k in ("zip", "letter", "audit_opinion", "summary_docx", "summary_xlsx", "manifest",
                                 "cover_sheet", "print_list")]
    uploads += [v for v in volumes if v["filename"] != docs["zip"]["filename"]]
    for doc in uploads:
        with _local_copy(rt.blobs, doc["sha256"]) as local:
            uploaded[doc["filename"]] = rt.shared.write_file(prefix + doc["filename"], local)

    org = sum(1 for c in manifest["candidates"] if c["group"] == "organization")
    loose = ["letter", "audit_opinion", "summary_docx", "summary_xlsx"]
    national = season.national
    mails = []
    for vol in volumes:
        attach = ([{"sha256": docs[k]["sha256"], "filename": docs[k]["filename"]} for k in loose]
                  if vol["volume"] == 1 else [])
        attach.append({"sha256": vol["sha256"], "filename": vol["filename"]})
        contents = _volume_contents(manifest, vol["files"])
        context = {
            "greeting": national.recipient_name, "unit": season.recommending_unit, "sender": mail_sender(season),
            "contact": mail_contact(season), "mobile": national.contact_mobile, "subject_base": subject_base,
            "edition": season.award.edition, "award": season.award.name, "version": version,
            "doc_number": manifest.get("doc_number", ""), "org_count": org,
            "person_count": len(manifest["candidates"]) - org, "attached": [a["filename"] for a in attach],
            "contents": contents, "volume": vol["volume"], "volumes": vol["of"],
            "limit_mb": national.attachment_limit_mb, "recipient": national.recipient_name,
            "postal_address": national.postal_address, "postcode": national.postcode,
        }
        mails.append((vol, attach, context))
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        assert package is not None
        if package.status == "sent":  # a concurrent run got here first
            return ExportResult(package_id, version, False, [], prefix, len(volumes))
        ids: list[int] = []
        created_any = False
        for vol, attach, context in mails:
            row, created = enqueue(
                session,
                key=(f"recommendation:national_submission:{season.season_id}-v{version}:"
                     f"{package.content_hash[:12]}:vol{vol['volume']}of{vol['of']}"),
                template="national_submission", to=[str(national.recipient_email)], context=context,
                attachments=attach,
            )
            ids.append(row.id)
            created_any = created_any or created
        package.status = "sent"
        package.sent_at = now()
        package.manifest = {**package.manifest, "uploaded": uploaded, "email_ids": ids}
        for cand in manifest["candidates"]:
            app = session.get(Application, cand["application_id"])
            if app is not None and app.state == State.RECOMMENDED.value:
                transition(session, app, State.EXPORTED, actor=ACTOR, reason=_text("audit.exported"),
                           details={"package_version": version})
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="export",
              details={"version": version, "prefix": prefix, "email_ids": ids, "volumes": len(volumes)})
        return ExportResult(package_id, version, created_any, ids, prefix, len(volumes))


def _volume_contents(manifest: dict[str, Any], files: list[str]) -> list[str]:
    """What one volume holds, for its mail: the letters and summaries by name, the candidates by folder."""
    folders = {c["folder"]: c for c in manifest["candidates"]}
    lines: list[str] = []
    seen: set[str] = set()
    for path in files:
        top = path.split("/", 1)[0]
        if top in folders:
            if top not in seen:
                seen.add(top)
                count = sum(1 for p in files if p.startswith(top + "/"))
                lines.append(_text("volume_candidate", folder=top, files=count))
        else:
            lines.append(path)
    return lines


# ---------------------------------------------------------------- results to applicants
def notify_applicants(rt: Any) -> dict[str, int]:
    """E-mail every ranked applicant the result, once each, after a package has been sent."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from award.mail.outbox import enqueue
    from award.store import session_scope
    from award.store.models import Application, Package, ReviewScore

    season = rt.season
    counts = {"recommended": 0, "not_recommended": 0, "skipped": 0}
    with session_scope(rt.db_url) as session:
        sent = session.scalar(select(Package).where(Package.season == season.season_id, Package.status == "sent")
                              .order_by(Package.version).limit(1))
        if sent is None:
            return counts
        rows = session.execute(
            select(Application, ReviewScore)
            .join(ReviewScore, ReviewScore.application_id == Application.id)
            .where(Application.season == season.season_id,
                   Application.state.in_(("exported", "not_recommended")))
            .options(selectinload(Application.applicant))
        ).all()
        for app, _score in rows:
            to = app.applicant.email or _field(app, "email")
            if not to:
                counts["skipped"] += 1
                continue
            template = "result_recommended" if app.state == "exported" else "result_not_recommended"
            _, created = enqueue(
                session, key=f"recommendation:{template}:{app.id}:{season.season_id}", template=template, to=[to],
                application_id=app.id,
                context={"greeting": app.applicant.contact_name or app.applicant.name, "unit": season.recommending_unit,
                         "season_label": season_label(season), "applicant_name": app.applicant.name,
                         "submission_no": app.submission_no, "edition": season.award.edition,
                         "award": season.award.name, "recipient": season.national.recipient_name,
                         "exported_at": sent.sent_at or now()},
            )
            if created:
                counts["recommended" if template == "result_recommended" else "not_recommended"] += 1
    return counts


# ---------------------------------------------------------------- schedule
def export_due_at(season: Season) -> datetime:
    """When the export is due (see award.recommendation.alerts.export_due_at)."""
    from award.recommendation.alerts import export_due_at as due

    return due(season)


def export_state(rt: Any) -> dict[str, Any]:
    """Whether the current content has been sent: {"sent", "due_at", "overdue", "latest_version", ...}."""
    work = pending_work(rt)
    sent = work.get("latest_status") == "sent" and not work["needed"] and "package_id" in work
    due = export_due_at(rt.season)
    return {"sent": sent, "due_at": due.isoformat(), "overdue": (not sent) and now() >= due,
            "candidates": work["count"], "latest_version": work["latest_version"], "reason": work["reason"]}
