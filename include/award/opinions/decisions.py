"""Ops decisions on department objections.

Applications in DEPT_OBJECTION are put to ops (the Airflow human-in-the-loop step of the opinions DAG): the question
comes from opinions/dept_decision.md.j2, the options and the reason field from opinions/dept_decision.yaml.
Continue -> DEPT_CLEARED, remove -> REMOVED; the transition's audit event carries who answered (actor), the reason
and when they answered; the applicant is e-mailed the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.clock import now
from award.config import Season
from award.mail.outbox import enqueue
from award.opinions.clearing import ACTOR, OpinionError, current_opinions
from award.opinions.departments import department
from award.opinions.texts import (
    base_context,
    decision_texts,
    notice_texts,
    ops_notice,
    render_blocks,
    verdict_label,
)
from award.runtime import Runtime
from award.states import LABELS_ZH, State, audit, transition
from award.store.models import Applicant, Application, AuditEvent

CHOICES = ("continue", "remove")
DECISION_TEMPLATE = "opinions/dept_decision.md.j2"


def _round(session: Session, app_id: int) -> int:
    """The audit id of the application's latest move into DEPT_OBJECTION (one decision per round)."""
    return session.scalar(
        select(AuditEvent.id).where(AuditEvent.entity_type == "application", AuditEvent.entity_id == app_id,
                                    AuditEvent.action == "transition",
                                    AuditEvent.to_state == State.DEPT_OBJECTION.value)
        .order_by(AuditEvent.id.desc()).limit(1)
    ) or 0


def pending_decisions(session: Session, rt: Runtime, *, ref: str, still_waiting: Callable[[str], bool],
                      limit: int = 1000, actor: str = ACTOR) -> list[dict[str, Any]]:
    """Applications in DEPT_OBJECTION to put to ops in the run ``ref`` (an Airflow run id).

    An application already put to ops in this round by another run that ``still_waiting(ref)`` is skipped (its
    question is still open there); one asked by this same run is returned again (a retried task). Each item is
    ``{"application_id", "round_id", "subject", "body"}``; the request is audited (``dept_decision_requested``).
    """
    season = rt.season
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id,
                                  Application.state == State.DEPT_OBJECTION.value).order_by(Application.id)
    ).all()
    out: list[dict[str, Any]] = []
    for app in apps:
        if len(out) >= limit:
            break
        round_id = _round(session, app.id)
        asked = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
                                     AuditEvent.action == "dept_decision_requested", AuditEvent.id > round_id)
            .order_by(AuditEvent.id.desc())
        ).first()
        previous = (asked.details or {}).get("ref") if asked is not None else None
        if previous is not None and previous != ref and still_waiting(previous):
            continue
        if previous != ref:
            audit(session, actor=actor, entity_type="application", entity_id=app.id, action="dept_decision_requested",
                  details={"ref": ref, "round": round_id, "replaces": previous})
        out.append({"application_id": app.id, "round_id": round_id} | decision_prompt(session, season, app))
    return out


def decision_prompt(session: Session, season: Season, app: Application) -> dict[str, str]:
    """Subject and Markdown body of the ops question for one application (from opinions/dept_decision.md.j2)."""
    opinions = []
    for code, op in sorted(current_opinions(session, app.id).items()):
        dept = department(season, code)
        opinions.append({"department_name": dept.name if dept else code, "verdict_label": verdict_label(op.verdict),
                         "reason": op.reason, "source": op.source, "late": op.late})
    try:
        label = season.category(app.category).label
    except KeyError:
        label = app.category
    blocks = render_blocks(DECISION_TEMPLATE, app=app, opinions=opinions, category_label=label)
    return {"subject": blocks["subject"], "body": blocks["body"]}


def choice_from_label(label: str) -> str:
    """``continue`` / ``remove`` from the option label the ops user chose (opinions/dept_decision.yaml)."""
    for key, text in decision_texts()["options"].items():
        if label in (key, text):
            return str(key)
    raise OpinionError(f"unknown decision option {label!r}")


@dataclass(frozen=True)
class Answer:
    """An ops answer to the decision question, in the stage's terms."""

    choice: str  # continue | remove
    reason: str
    user: str
    user_id: str | None
    responded_at: datetime | None


def answer_from_hitl(answer: Mapping[str, Any]) -> Answer:
    """Read the answer of the human-in-the-loop step: the one chosen option label, the ``reason`` field, who
    answered (name, else id) and when."""
    (label,) = answer["chosen_options"]
    user = answer.get("responded_by_user") or {}
    return Answer(choice=choice_from_label(label), reason=str((answer.get("params_input") or {}).get("reason") or ""),
                  user=str(user.get("name") or user.get("id") or ""), user_id=str(user.get("id") or "") or None,
                  responded_at=answer.get("responded_at"))


def apply_answer(session: Session, rt: Runtime, application_id: int, *, round_id: int, answer: Mapping[str, Any],
                 ref: str | None = None) -> str:
    """Apply the human-in-the-loop answer on one application (see :func:`apply_decision`)."""
    a = answer_from_hitl(answer)
    return apply_decision(session, rt, application_id, round_id=round_id, choice=a.choice, reason=a.reason,
                          user=a.user, user_id=a.user_id, responded_at=a.responded_at, ref=ref)


def apply_decision(session: Session, rt: Runtime, application_id: int, *, round_id: int, choice: str, reason: str,
                   user: str, responded_at: datetime | None = None, user_id: str | None = None,
                   ref: str | None = None) -> str:
    """Apply an ops decision on a department objection; returns ``cleared``, ``removed`` or ``ignored``.

    ``continue`` -> DEPT_CLEARED, ``remove`` -> REMOVED, audited with ``user`` as actor, the reason and when
    they answered; the applicant is e-mailed the outcome (staff are told when there is no address). A decision
    for an application no longer in DEPT_OBJECTION, or for an earlier round, is not applied (audited, staff told).
    """
    season = rt.season
    if choice not in CHOICES:
        raise OpinionError(f"decision: unknown choice {choice!r} (expected continue or remove)")
    if not reason or not reason.strip():
        raise OpinionError("decision: the reason is required")
    if not user:
        raise OpinionError("decision: the responding user is required")
    app = session.get(Application, application_id)
    if app is None:
        raise OpinionError(f"decision: application {application_id} does not exist")
    answered = (responded_at or now()).astimezone(now().tzinfo).isoformat()
    details = {"decision": choice, "responded_at": answered, "user_id": user_id, "ref": ref, "round": round_id,
               "via": "airflow-hitl"}
    staff = notice_texts()["staff"]
    option = decision_texts()["options"][choice]
    if app.state != State.DEPT_OBJECTION.value or _round(session, app.id) != round_id:
        audit(session, actor=user, entity_type="application", entity_id=app.id, action="dept_decision_ignored",
              reason=reason, details=details | {"state": app.state})
        ops_notice(session, season, f"opinions:staff_notice:decision_ignored:{app.id}:{round_id}:{choice}",
                   staff["decision_ignored_title"], staff["decision_ignored_text"].format(
                       name=app.applicant.name, submission_no=app.submission_no, choice=option, user=user,
                       state=LABELS_ZH[State(app.state)]))
        return "ignored"
    target = State.DEPT_CLEARED if choice == "continue" else State.REMOVED
    transition(session, app, target, actor=user, reason=reason.strip(), details=details)
    template = "dept_outcome_continue" if choice == "continue" else "dept_outcome_removed"
    applicant: Applicant = app.applicant
    if applicant.email:
        ctx = base_context(season, applicant.contact_name or applicant.name) | {
            "submission_no": app.submission_no, "applicant_name": applicant.name, "reason": reason.strip()}
        enqueue(session, key=f"opinions:{template}:{app.id}:{round_id}", template=template, to=[applicant.email],
                context=ctx, application_id=app.id)
    else:
        ops_notice(session, season, f"opinions:staff_notice:no_email:{app.id}:{round_id}", staff["no_email_title"],
                   staff["no_email_text"].format(name=applicant.name, submission_no=app.submission_no, choice=option))
    return "cleared" if choice == "continue" else "removed"
