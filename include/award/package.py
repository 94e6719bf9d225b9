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
the cheap module award.alerts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from award.blobs import CHUNK, sha256_file
from award.clock import now
from award.config import Season
from award.templating import TEMPLATE_DIR, cn_date, message, message_group, render

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
    return yaml.safe_load((TEMPLATE_DIR / "letters" / "package.yaml").read_text(encoding="utf-8"))


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


def build_proposal(session: Any, season: Season) -> Proposal:
    """The package the store describes right now (candidates ordered by group, then rank)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

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
            return latest.id
        package = Package(
            season=rt.season.season_id, version=(latest.version + 1) if latest else 1, status=status,
            content_hash=content_hash, approved_by=approver.strip() or None, approval_text=opinion,
            approved_at=now(), created_at=now(),
            manifest={"doc_number": doc_number, "responded_by": responded_by, "candidates": len(prop.candidates)},
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
def letter_text(season: Season, *, doc_number: str, when: date, org_count: int, person_count: int) -> dict[str, Any]:
    """The letter's text from templates/letters/recommendation_letter.yaml.j2."""
    text = render(
        "letters/recommendation_letter.yaml.j2", unit=season.recommending_unit, doc_number=doc_number,
        edition=season.award.edition, award=season.award.name, recipient=season.national.recipient_name,
        org_count=org_count, person_count=person_count, date=when,
    )
    return yaml.safe_load(text)


def write_letter(path: Path, season: Season, *, doc_number: str, when: datetime, org_count: int,
                 person_count: int) -> None:
    """The 推荐函 as .docx in the GB/T 9704-2012 layout (award.officialdoc)."""
    from award.officialdoc import OfficialDocument

    t = letter_text(season, doc_number=doc_number, when=when.date(), org_count=org_count,
                    person_count=person_count)
    doc = OfficialDocument(title=t["title"], when=when)
    doc.letterhead(t["issuer"], t["doc_number"])
    doc.heading(t["title"])
    doc.addressee(t["recipient"])
    doc.body(t["body"])
    doc.closing(attachments=t["attachments"], signature=t["signature"], date=t["date"], note=t["contact"])
    doc.save(path)


def _summary_rows(candidates: list[Candidate]) -> list[list[Any]]:
    texts = package_texts()
    yes, no = texts["summary"]["flag_yes"], texts["summary"]["flag_no"]
    return [
        [c.nn, c.name, c.code, c.category_label, c.city, c.contact, c.phone,
         c.score if c.score is not None else "", yes if c.priority else no,
         texts["placements"].get(c.placement, "")]
        for c in candidates
    ]


# 序号 名称 统一代码 类别 所在地区 联系人 手机 评审得分 优先 推荐奖项: 243 mm, the type area of landscape A4
SUMMARY_WIDTHS_MM = (12, 40, 50, 24, 20, 18, 32, 15, 16, 16)


def write_summary_docx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (.docx, landscape A4, award.officialdoc page set-up)."""
    from award.officialdoc import OfficialDocument

    texts = package_texts()["summary"]
    fmt = {"edition": season.award.edition, "award": season.award.name, "unit": season.recommending_unit.name,
           "date": cn_date(when)}
    title = texts["title"].format(**fmt)
    doc = OfficialDocument(title=title, when=when, landscape=True)
    doc.paragraph(title, role="title", align="center")
    doc.paragraph(texts["unit_line"].format(**fmt) + "　　" + texts["date_line"].format(**fmt), align="left",
                  size=14)
    doc.table([texts["columns"], *_summary_rows(candidates)], widths_mm=SUMMARY_WIDTHS_MM)
    doc.save(path)


def write_summary_xlsx(path: Path, season: Season, candidates: list[Candidate], when: datetime) -> None:
    """推荐名单汇总表 (.xlsx): title row, unit/date row, header row, one row per candidate."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    texts = package_texts()["summary"]
    fmt = {"edition": season.award.edition, "award": season.award.name, "unit": season.recommending_unit.name,
           "date": cn_date(when)}
    wb = Workbook()
    ws = wb.active
    ws.title = texts["sheet"]
    columns = texts["columns"]
    ws.append([texts["title"].format(**fmt)])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([texts["unit_line"].format(**fmt) + "    " + texts["date_line"].format(**fmt)])
    ws.append(columns)
    for row in _summary_rows(candidates):
        ws.append(row)
    for row in ws.iter_rows(min_row=4, min_col=3, max_col=3):  # codes stay text (no scientific notation)
        for cell in row:
            cell.number_format = "@"
    for i, width in enumerate([6, 36, 22, 24, 10, 10, 14, 10, 16, 18], start=1):
        ws.column_dimensions[ws.cell(row=3, column=i).column_letter].width = width
    wb.properties.created = wb.properties.modified = when.replace(microsecond=0, tzinfo=None)
    wb.save(str(path))


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


def compile_package(rt: Any, package_id: int, *, root: Path | None = None) -> Compiled:
    """Build the approved version's folder and zip; store the zip and the documents in the blob store.

    Raises PackageError when the version is not approved or the store's content no longer matches the
    approved hash (a change after approval needs a new approval). Safe to repeat (the folder is rebuilt).
    """
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
        approved_at = package.approved_at or now()
        meta = dict(package.manifest)

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
                 person_count=person)
    write_summary_docx(folder / names["summary_docx"], season, prop.candidates, approved_at)
    write_summary_xlsx(folder / names["summary_xlsx"], season, prop.candidates, approved_at)
    for cand in prop.candidates:
        for f in cand.files:
            _copy_blob(rt.blobs, f.sha256, folder / f.path)

    generated = [names["letter"], names["summary_docx"], names["summary_xlsx"]]
    order = generated + [f.path for c in prop.candidates for f in c.files]
    print_list = render(
        "letters/print_list.txt.j2", edition=season.award.edition, award=season.award.name, version=version,
        unit=season.recommending_unit, copies=texts["print"]["copies"], content_hash=prop.content_hash,
        items=[{"path": p, "note": _text("print_note_letter") if p == names["letter"] else ""} for p in order],
    )
    (folder / names["print_list"]).write_text(print_list, encoding="utf-8")
    generated.append(names["print_list"])
    order.insert(len(generated) - 1, names["print_list"])

    file_entries = []
    for rel in generated:
        sha, size = sha256_file(folder / rel)
        file_entries.append({"path": rel, "sha256": sha, "size": size, "source": "generated"})
    for cand in prop.candidates:
        for f in cand.files:
            file_entries.append({"path": f.path, "sha256": f.sha256, "size": f.size, "source": "material",
                                 "kind": f.kind, "material_id": f.material_id, "application_id": cand.application_id})
    manifest = {
        "season": season.season_id, "award": season_label(season), "unit": season.recommending_unit.name,
        "version": version, "doc_number": doc_number, "content_hash": prop.content_hash,
        "created_at": now().isoformat(), "folder": folder_name,
        "candidates": [
            {"nn": c.nn, "submission_no": c.submission_no, "name": c.name, "group": c.group,
             "category": c.category, "placement": c.placement, "folder": c.folder,
             "application_id": c.application_id, "files": [f.path for f in c.files]}
            for c in prop.candidates
        ],
        "files": file_entries,
    }
    (folder / names["manifest"]).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    order.append(names["manifest"])
    zip_path = base / f"{folder_name}.zip"
    zip_folder(folder, zip_path, order)

    zip_ref = rt.blobs.put_file(zip_path, link=True)  # the package folder is never edited in place
    docs = {}
    for key in ("letter", "summary_docx", "summary_xlsx", "manifest", "print_list"):
        ref = rt.blobs.put_file(folder / names[key])
        docs[key] = {"filename": names[key], "sha256": ref.sha256, "size": ref.size}
    docs["zip"] = {"filename": zip_path.name, "sha256": zip_ref.sha256, "size": zip_ref.size}

    from award.states import audit

    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        assert package is not None
        package.path = str(folder)
        package.zip_sha256 = zip_ref.sha256
        package.manifest = {**meta, **manifest, "documents": docs}
        package.status = "compiled"
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="compile",
              details={"version": version, "zip_sha256": zip_ref.sha256, "files": len(file_entries),
                       "zip_size": zip_ref.size})
    log.info("compiled package v%d: %d files, zip %d bytes", version, len(file_entries), zip_ref.size)
    return Compiled(package_id, version, folder, zip_path, zip_ref.sha256, len(file_entries))


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


def check_package(session: Any, rt: Any, package: Any) -> list[str]:
    """Every problem with a compiled version (empty list: fine to send)."""
    from sqlalchemy import select

    from award.store.models import Application, Material

    season = rt.season
    problems: list[str] = []
    if not package.approved_by or package.approved_at is None or package.status == "rejected":
        problems.append(_text("not_approved"))
    if not package.zip_sha256:
        return problems + [_text("not_compiled")]
    manifest = package.manifest or {}
    prop = build_proposal(session, season)
    if prop.content_hash != package.content_hash:
        problems.append(_text("changed_since_approval"))
    problems.extend(prop.problems)
    if not rt.blobs.exists(package.zip_sha256):
        return problems + [_text("zip_missing")]
    expected = {f["path"]: f for f in manifest.get("files", [])}
    folder = manifest.get("folder", "")
    with _local_copy(rt.blobs, package.zip_sha256) as zip_path:
        sha, _size = sha256_file(zip_path)
        if sha != package.zip_sha256:
            problems.append(_text("zip_checksum"))
        with zipfile.ZipFile(zip_path) as zf:
            members = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            prefix = f"{folder}/"
            inside = {name[len(prefix):]: name for name in members if name.startswith(prefix)}
            for name in members:
                if not name.startswith(prefix):
                    problems.append(_text("outside_folder", name=name))
            names = package_texts()["files"]
            for rel in sorted(set(inside) - set(expected) - {names["manifest"]}):
                problems.append(_text("unlisted_file", path=rel))
            for rel, entry in expected.items():
                if rel not in inside:
                    problems.append(_text("missing_file", path=rel))
                    continue
                got_sha, got_size = _hash_member(zf, inside[rel])
                if (got_sha, got_size) != (entry["sha256"], entry["size"]):
                    problems.append(_text("file_checksum", path=rel))
            if names["manifest"] in inside:
                inner = json.loads(zf.read(inside[names["manifest"]]).decode("utf-8"))
                if inner.get("files") != manifest.get("files"):
                    problems.append(_text("manifest_differs"))
            else:
                problems.append(_text("manifest_missing"))
    # files against the store: the current materials of the approved candidates, and nothing else
    for entry in expected.values():
        if entry.get("source") != "material":
            continue
        material = session.get(Material, entry["material_id"])
        if material is None or material.application_id != entry["application_id"]:
            problems.append(_text("foreign_file", path=entry["path"]))
        elif material.sha256 != entry["sha256"] or material.superseded_by_id is not None:
            problems.append(_text("stale_file", path=entry["path"]))
        elif not rt.blobs.exists(material.sha256):
            problems.append(_text("original_missing", path=entry["path"]))
    in_package = {c["application_id"]: c for c in manifest.get("candidates", [])}
    approved = session.scalars(select(Application).where(
        Application.season == season.season_id, Application.state.in_(APPROVED_STATES))).all()
    approved_ids = {a.id for a in approved}
    for app in approved:
        if app.id not in in_package:
            problems.append(_text("approved_not_packaged", submission_no=app.submission_no))
    for app_id, cand in in_package.items():
        if app_id not in approved_ids:
            problems.append(_text("unapproved_packaged", submission_no=cand["submission_no"], name=cand["name"]))
    for app_id, cand in in_package.items():
        app = session.get(Application, app_id)
        if app is None:
            continue
        kinds = {expected[p]["kind"] for p in cand["files"] if p in expected}
        for kind in season.category(app.category).required_materials:
            if kind in PACKAGE_KINDS and kind not in kinds:
                problems.append(_text("packaged_missing_material", submission_no=cand["submission_no"],
                                           name=cand["name"], label=package_texts()["kinds"][kind]))
    return list(dict.fromkeys(problems))


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
    email_id: int | None
    storage_prefix: str
    zip_attached: bool


def national_prefix(season: Season, version: int) -> str:
    """The national-submission storage key prefix of a version."""
    base = season.national.storage_uri.strip("/")
    return f"{base}/{season.season_id}/v{version:02d}/"


def export_package(rt: Any, package_id: int) -> ExportResult:
    """Upload a verified version and queue the e-mail to the national address (once per version).

    Re-running after the send does nothing (the Package is "sent"; the outbox key is per version).
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
            return ExportResult(package_id, package.version, False, None, national_prefix(season, package.version),
                                bool(package.manifest.get("zip_attached")))
        if package.status != "verified":
            raise PackageError(_text("not_verified", version=package.version, status=package.status))
        version = package.version
        docs = dict(package.manifest["documents"])
        manifest = dict(package.manifest)

    prefix = national_prefix(season, version)
    uploaded: dict[str, str] = {}
    for key in ("zip", "letter", "summary_docx", "summary_xlsx", "manifest"):
        doc = docs[key]
        with _local_copy(rt.blobs, doc["sha256"]) as local:
            uploaded[key] = rt.shared.write_file(prefix + doc["filename"], local)

    limit = season.national.attachment_limit_mb * 1024 * 1024
    attach_keys = ["letter", "summary_docx", "summary_xlsx", "manifest"]
    total = sum(docs[k]["size"] for k in attach_keys)
    zip_attached = total + docs["zip"]["size"] <= limit
    if zip_attached:
        attach_keys.append("zip")
    org = sum(1 for c in manifest["candidates"] if c["group"] == "organization")
    context = {
        "greeting": season.national.recipient_name, "unit": season.recommending_unit,
        "edition": season.award.edition, "award": season.award.name, "version": version,
        "doc_number": manifest.get("doc_number", ""), "org_count": org,
        "person_count": len(manifest["candidates"]) - org,
        "attached": [docs[k]["filename"] for k in attach_keys],
        "link": None if zip_attached else uploaded["zip"], "link_always": uploaded["zip"],
        "zip_name": docs["zip"]["filename"], "zip_size_mb": f"{docs['zip']['size'] / 1048576:.1f}",
        "limit_mb": season.national.attachment_limit_mb,
    }
    with session_scope(rt.db_url) as session:
        package = session.get(Package, package_id)
        assert package is not None
        if package.status == "sent":  # a concurrent run got here first
            return ExportResult(package_id, version, False, None, prefix, zip_attached)
        row, created = enqueue(
            session, key=f"recommendation:national_submission:{season.season_id}-v{version}:{package.content_hash[:12]}",
            template="national_submission", to=[str(season.national.recipient_email)], context=context,
            attachments=[{"sha256": docs[k]["sha256"], "filename": docs[k]["filename"]} for k in attach_keys],
        )
        package.status = "sent"
        package.sent_at = now()
        package.manifest = {**package.manifest, "uploaded": uploaded, "zip_attached": zip_attached,
                            "email_id": row.id}
        for cand in manifest["candidates"]:
            app = session.get(Application, cand["application_id"])
            if app is not None and app.state == State.RECOMMENDED.value:
                transition(session, app, State.EXPORTED, actor=ACTOR, reason=_text("audit.exported"),
                           details={"package_version": version})
        audit(session, actor=ACTOR, entity_type="package", entity_id=package_id, action="export",
              details={"version": version, "prefix": prefix, "email_id": row.id, "zip_attached": zip_attached})
        return ExportResult(package_id, version, created, row.id, prefix, zip_attached)


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
    """When the export is due (see award.alerts.export_due_at)."""
    from award.alerts import export_due_at as due

    return due(season)


def export_state(rt: Any) -> dict[str, Any]:
    """Whether the current content has been sent: {"sent", "due_at", "overdue", "latest_version", ...}."""
    work = pending_work(rt)
    sent = work.get("latest_status") == "sent" and not work["needed"] and "package_id" in work
    due = export_due_at(rt.season)
    return {"sent": sent, "due_at": due.isoformat(), "overdue": (not sent) and now() >= due,
            "candidates": work["count"], "latest_version": work["latest_version"], "reason": work["reason"]}
