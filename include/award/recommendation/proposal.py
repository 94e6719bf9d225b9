"""The proposal: the candidates and the exact files a package would hold, and the hash the approval binds.

A *proposal* lists the candidates (CANDIDATE_CONFIRMED / RECOMMENDED / EXPORTED) with their current materials;
its ``content_hash`` covers the candidates' rows and every file's SHA-256, so any change (a candidate in or out, a
replaced form) gives a new hash. ``pending_work`` says whether the leadership group must be asked (new content),
whether an approved version can resume, or why there is nothing to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from award.config import Season
from award.enums import PackageStatus, State
from award.recommendation.package import (
    CANDIDATE_STATES,
    PACKAGE_KINDS,
    form_field,
    package_texts,
    safe_name,
)
from award.recommendation.ranking import priority_label, priority_winner
from award.runtime import Runtime
from award.store import session_scope
from award.store.models import Application, Package, ReviewScore
from award.templating import message_group
from award.units import unit_for

_text = message_group("recommendation", "package")

# states in which an application may still join or leave the candidates: the approval waits for them
STILL_OPEN = (State.REVIEWED, State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_OBJECTION)
# an approved version with this content that was not sent yet: the run resumes it instead of asking again
RESUMABLE = (PackageStatus.APPROVED, PackageStatus.COMPILED, PackageStatus.VERIFIED, PackageStatus.FAILED)


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


def recommending_unit_name(season: Season, app: Application) -> str:
    """The 推荐单位 an application came through (the season's unit list when known, else the form's field)."""
    unit = unit_for(season, app)
    if unit is not None:
        return str(unit.name)
    return form_field(app, "recommending_unit")


def build_proposal(session: Session, season: Season) -> Proposal:
    """The package the store describes right now (candidates ordered by group, then rank)."""
    texts = package_texts()
    apps = session.scalars(
        select(Application)
        .where(Application.season == season.season_id, Application.state.in_(CANDIDATE_STATES))
        .options(selectinload(Application.applicant), selectinload(Application.materials))
    ).all()
    scores = {s.application_id: s for s in session.scalars(
        select(ReviewScore).where(ReviewScore.season == season.season_id))}
    group_order = {"organization": 0, "individual": 1}

    def order(app: Application) -> tuple[Any, ...]:
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
            group=cat.group, city=app.city or app.applicant.city or form_field(app, "city"),
            contact=(name if person else (app.applicant.contact_name or form_field(app, "contact"))),
            phone=app.applicant.phone or form_field(app, "contact_phone", "phone"),
            score=s.score if s else None, priority=bool(app.priority or (s.priority if s else False)),
            placement=(s.placement if s and s.placement else "none"), state=app.state, folder=folder,
            work_unit=form_field(app, "employer", "work_unit") if person else "",
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


def proposal(rt: Runtime) -> Proposal:
    """``build_proposal`` in its own read-only transaction."""
    with session_scope(rt.db_url) as session:
        return build_proposal(session, rt.season)


def latest_package(session: Session, season_id: str) -> Package | None:
    """The season's newest package version (any status), or None."""
    return session.scalar(select(Package).where(Package.season == season_id).order_by(Package.version.desc()).limit(1))


def pending_work(rt: Runtime) -> dict[str, Any]:
    """What the approval step would be asked: {"needed", "content_hash", "count", "reason", "lines", ...}.

    Not needed when there is no candidate, when a candidate is still in publicity or objection, or when the
    latest package already carries this exact content (approved, compiled, verified or sent).
    """
    with session_scope(rt.db_url) as session:
        prop = build_proposal(session, rt.season)
        still_open = session.scalar(select(func.count()).select_from(Application).where(
            Application.season == rt.season.season_id, Application.state.in_(STILL_OPEN)))
        latest = latest_package(session, rt.season.season_id)
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
        elif latest is not None and latest.content_hash == prop.content_hash and latest.status != PackageStatus.REJECTED:
            out["reason"] = _text("pending.same_content", version=latest.version,
                                  status=status_label(latest.status))
            out["package_id"] = latest.id
            out["resume"] = latest.status in RESUMABLE
        else:
            out["needed"] = True
            out["reason"] = (_text("pending.new_content") if latest is None
                             else _text("pending.content_differs", version=latest.version))
        return out


def status_label(status: str) -> str:
    """A package version's status in Chinese (the code itself when unknown)."""
    known = {member.value for member in PackageStatus}
    return _text(f"status.{status}") if status in known else status
