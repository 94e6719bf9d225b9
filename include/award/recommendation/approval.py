"""The leadership group's approval: the question it is asked, its answer, and the package version that records it.

The approval step (human-in-the-loop in the Airflow UI) shows ``approval_request``'s subject and body; its options
and form fields are the fixed texts of templates/recommendation/approval.yaml (``alerts.approval_form``, read at
DAG parse time). ``record_answer`` turns the answer into ``record_approval``'s arguments: the chosen option, the
approver (else the Airflow user who answered), the opinion and the document numbers (``doc_number``'s rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from award.clock import now
from award.config import Season
from award.enums import PackageStatus, State
from award.recommendation.alerts import approval_form
from award.recommendation.package import ACTOR, PackageError
from award.recommendation.proposal import build_proposal, latest_package, pending_work, status_label
from award.runtime import Runtime
from award.states import audit, transition
from award.store import session_scope
from award.store.models import Application, Package
from award.templating import message_group

_text = message_group("recommendation", "package")


def approval_prompt(work: dict[str, Any]) -> str:
    """The leadership group's approval question (HITL body) for ``pending_work``'s result, all in Chinese."""
    status = work.get("latest_status")
    return _text("approval_prompt", count=work["count"], content_hash=work["content_hash"][:12],
                 lines=work["lines"], problems=work["problems"], version=work.get("latest_version"),
                 status=status_label(status) if status else None, reason=work["reason"])


def approval_request(rt: Runtime) -> dict[str, Any]:
    """``pending_work`` with the approval step's ``subject`` and ``body`` (shown when ``needed``).

    The caller asks when ``needed``, resumes version ``package_id`` when ``resume``, and otherwise stops.
    """
    work = pending_work(rt)
    return {**work, "subject": _text("approval_subject", season_label=rt.season.label),
            "body": approval_prompt(work)}


def doc_number(season: Season, given: str) -> str:
    """The 推荐函's number: a full number as given; a bare sequence number (45) with the season's prefix
    (<prefix>〔<year>〕45号); empty when none was given (templates/recommendation/approval.yaml, ``doc_number``)."""
    number = given.strip()
    rule = approval_form()["doc_number"]
    if not number or rule["year_mark"] in number:
        return number
    prefix = season.package_letters.recommendation.doc_prefix or season.recommending_unit.doc_prefix
    return f"{prefix}{number.removesuffix(rule['suffix'])}{rule['suffix']}"


def record_answer(rt: Runtime, *, content_hash: str, answer: Mapping[str, Any]) -> int | None:
    """Record the approval step's answer (Airflow's HITL result: ``chosen_options``, ``params_input``,
    ``responded_by_user``) on the proposal with ``content_hash``; the Package id when approved, else None."""
    params = answer.get("params_input") or {}
    user = answer.get("responded_by_user") or {}
    approved = approval_form()["options"]["approve"] in (answer.get("chosen_options") or [])
    package_id = record_approval(
        rt, content_hash=content_hash, approved=approved,
        approver=str(params.get("approver") or user.get("name") or ""), opinion=str(params.get("opinion") or ""),
        doc_number=doc_number(rt.season, str(params.get("doc_number") or "")),
        audit_doc_number=str(params.get("audit_doc_number") or "").strip(),
        responded_by=user.get("name") or user.get("id"),
    )
    return package_id if approved else None


def record_approval(
    rt: Runtime,
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
    if approved and not (approver or "").strip():
        raise PackageError(_text("approver_required"))
    with session_scope(rt.db_url) as session:
        prop = build_proposal(session, rt.season)
        if prop.content_hash != content_hash:
            raise PackageError(_text("changed_during_approval"))
        latest = latest_package(session, rt.season.season_id)
        status = PackageStatus.APPROVED if approved else PackageStatus.REJECTED
        if latest is not None and latest.content_hash == content_hash and latest.status != PackageStatus.REJECTED and approved:
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
                if app is not None and app.state == State.CANDIDATE_CONFIRMED:
                    transition(session, app, State.RECOMMENDED, actor=approver or actor,
                               reason=_text("audit.approved"),
                               details={"package_version": package.version, "content_hash": content_hash})
        audit(session, actor=approver or actor, entity_type="package", entity_id=package.id,
              action="approve" if approved else "reject", reason=opinion or None,
              details={"version": package.version, "content_hash": content_hash, "doc_number": doc_number,
                       "responded_by": responded_by, "candidates": [c.submission_no for c in prop.candidates]})
        return package.id
