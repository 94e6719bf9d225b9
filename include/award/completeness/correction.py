"""The completeness check and correction loop (形式审查与补正).

``run_checks`` checks every application of the season (or of the given ids) that is new or changed since its
last check (``Application.changed_at > checked_at``, states received / incomplete / complete), stores a ``CheckRun`` with
one ``CheckResult`` per passed rule and per finding (history is kept), and moves the application:

* a blocking finding marked ineligible -> ``INELIGIBLE`` and the ``ineligible`` e-mail;
* other blocking findings -> ``INCOMPLETE`` and one correction notice (``correction``) listing every problem,
  its fix and the correction deadline: ``season.correction.workdays`` working days after the first notice,
  never after the provincial deadline's date. The deadline is set when the application becomes incomplete
  and kept while it stays incomplete (a partial correction does not extend it);
* findings only staff can settle (severity ``review``: a scanned PDF form, a field the parser did not find)
  and no blocking one -> ``NEEDS_REVIEW``, no e-mail; ``confirm_review`` (staff) then moves it to ``COMPLETE``,
  and later checks of the same form files with the same review findings keep it complete;
* no blocking finding -> ``COMPLETE`` and the ``complete`` e-mail.

``plan_check_batches`` lists the ids to check in batches: the ``completeness`` DAG maps one ``run_checks`` task
per batch (never one per application).

``sweep_deadlines`` (daily) reminds ``season.correction.reminder_workdays_before`` working days before the
deadline and closes an application still incomplete after its deadline (``CLOSED_INCOMPLETE`` + e-mail).

Every e-mail goes through the outbox with a key that includes a hash of the problem list (or the deadline),
so the same problem list never produces a second identical e-mail, and re-running is safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from award.batching import MAX_MAP_LENGTH, chunk
from award.calendar import default_calendar
from award.clock import now
from award.completeness.rules import CheckContext, Evaluation, evaluate
from award.enums import CheckOutcome, Severity
from award.forms.spec import document_for
from award.identity import validate_email
from award.inbound.archive import record_problem
from award.intake.keyentry import is_pending
from award.mail.outbox import enqueue
from award.states import State, audit, transition
from award.storage.blobs import BlobCorrupt
from award.store.models import Application, AuditEvent, CheckResult, CheckRun, OutboxEmail
from award.templating import message_group

if TYPE_CHECKING:
    from award.calendar import WorkCalendar
    from award.config import Season

log = logging.getLogger(__name__)

ACTOR = "completeness"
CHECKED_STATES = (State.RECEIVED, State.INCOMPLETE, State.COMPLETE, State.NEEDS_REVIEW)
REVIEW_CONFIRMED = "review_confirmed"  # audit action of a staff member's review
MAIL_TEMPLATES = ("correction", "correction_reminder", "closed_incomplete", "complete", "ineligible")


_text = message_group("completeness", "correction")


@dataclass
class CheckSummary:
    """What one ``run_checks`` did (ids and counts only: safe for logs and XCom)."""

    checked: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    mails_queued: int = 0
    application_ids: list[int] = field(default_factory=list)
    integrity_errors: list[int] = field(default_factory=list)  # applications not checked: a stored file is corrupt

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "outcomes": dict(self.outcomes), "mails_queued": self.mails_queued,
                "integrity_errors": list(self.integrity_errors)}


@dataclass
class SweepSummary:
    """What one ``sweep_deadlines`` did."""

    reminded: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    waiting_for_check: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"reminded": len(self.reminded), "closed": len(self.closed),
                "waiting_for_check": len(self.waiting_for_check)}


def _calendar(season: Season, calendar: WorkCalendar | None) -> WorkCalendar:
    if calendar is not None:
        return calendar
    return default_calendar(tuple(season.calendar_overrides))


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def input_hash(app: Application) -> str:
    """A hash over what the check looks at: fields, current materials and channels."""
    materials = sorted((m.kind, m.sha256) for m in app.materials if m.superseded_by_id is None)
    return _hash({"fields": app.fields or {}, "materials": materials, "channel": app.channel,
                  "channels": sorted(app.channels or [])})


def problems_hash(evaluation: Evaluation) -> str:
    """A hash over the blocking problem list (rule, kind, message): the idempotency discriminator."""
    return _hash(sorted((r.rule_id, r.kind, r.message) for r in evaluation.blocking))


def review_key(app: Application, reviews: Iterable[tuple[str, str, str]]) -> str:
    """What a staff review vouches for: the review findings (rule, kind, message) and the current form files."""
    forms = sorted((m.kind, m.sha256) for m in app.materials
                   if m.superseded_by_id is None and m.kind in ("form_docx", "form_pdf"))
    return _hash({"reviews": sorted(reviews), "forms": forms})


def _review_confirmed(session: Session, app: Application, key: str) -> bool:
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
        AuditEvent.action == REVIEW_CONFIRMED))
    return any((e.details or {}).get("review_key") == key for e in events)


def recipients(app: Application) -> list[str]:
    """Where to write: the form's e-mail if valid, else the applicant record's."""
    for candidate in ((app.fields or {}).get("email"), app.applicant.email if app.applicant else None):
        if candidate:
            v = validate_email(str(candidate))
            if v.valid:
                return [v.normalized]
    return []


def mail_context(app: Application, season: Season, **extra: Any) -> dict[str, Any]:
    """The context every completeness mail gets (greeting, unit, season label, application)."""
    name = app.applicant.name if app.applicant else app.submission_no
    return {
        "greeting": name,
        "unit": season.recommending_unit,
        "season_label": f"{season.award.edition}{season.award.name}",
        "submission_no": app.submission_no,
        "category_label": season.category(app.category).label,
        "document": document_for(app.category),  # 申报表, or the individuals' 推荐表
        "provincial_deadline": season.dates.provincial_deadline,
        **extra,
    }


def _queue(session: Session, app: Application, season: Season, template: str, discriminator: str,
           **context: Any) -> bool:
    to = recipients(app)
    if not to:
        audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="mail_not_sent",
              reason=_text("reason.no_email"), details={"template": template})
        log.warning("application %s: no valid e-mail address, %s not queued", app.submission_no, template)
        return False
    _, created = enqueue(
        session, key=f"checks:{template}:{app.id}:{discriminator}", template=template, to=to,
        context=mail_context(app, season, **context), application_id=app.id,
    )
    return created


def _problem_items(evaluation: Evaluation) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    blocking = [{"message": r.message, "fix": r.fix} for r in evaluation.blocking]
    warnings = [{"message": r.message, "fix": r.fix} for r in evaluation.warnings]
    return blocking, warnings


def check_application(
    session: Session,
    app: Application,
    season: Season,
    load_blob: Callable[[str], bytes],
    *,
    calendar: WorkCalendar | None = None,
    run_id: str | None = None,
) -> tuple[CheckRun, bool]:
    """Check one application, store the run, move its state and queue its e-mail; returns (run, mail queued)."""
    cal = _calendar(season, calendar)
    at = now()
    today = at.date()
    ctx = CheckContext(application=app, season=season, calendar=cal, load_blob=load_blob, today=today)
    evaluation = evaluate(ctx)
    p_hash = problems_hash(evaluation)
    i_hash = input_hash(app)
    run = CheckRun(application_id=app.id, run_id=run_id, checked_at=at, outcome=evaluation.outcome,
                   input_hash=i_hash, problems_hash=p_hash)
    session.add(run)
    session.flush()
    for rule_id in evaluation.passed_rules:
        session.add(CheckResult(check_run_id=run.id, rule_id=rule_id, severity=Severity.BLOCKING, passed=True,
                                message=None, details={}))
    for r in evaluation.results:
        session.add(CheckResult(check_run_id=run.id, rule_id=r.rule_id, severity=r.severity, passed=False,
                                message=r.message, details={**r.details, "fix": r.fix, "ineligible": r.ineligible}))
    app.checked_at = at
    previous = State(app.state)
    blocking, warnings = _problem_items(evaluation)
    summary = {"check_run_id": run.id, "outcome": evaluation.outcome, "problems": len(blocking),
               "warnings": len(warnings)}
    queued = False
    if evaluation.outcome is CheckOutcome.INELIGIBLE:
        reasons = [{"message": r.message, "fix": r.fix} for r in evaluation.blocking if r.ineligible]
        transition(session, app, State.INELIGIBLE, actor=ACTOR, reason=_text("reason.ineligible"), details=summary)
        queued = _queue(session, app, season, "ineligible", p_hash[:16], problems=reasons)
    elif evaluation.outcome is CheckOutcome.INCOMPLETE:
        if previous is not State.INCOMPLETE or app.correction_due is None:
            app.correction_due = cal.correction_deadline(
                today, season.correction.workdays, hard_limit=season.dates.provincial_deadline.date()
            )
        if not transition(session, app, State.INCOMPLETE, actor=ACTOR, reason=_text("reason.incomplete"),
                          details={**summary, "correction_due": app.correction_due.isoformat()}):
            audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="check",
                  reason=_text("reason.still_incomplete"), details=summary)
        queued = _queue(session, app, season, "correction", p_hash[:16], problems=blocking, warnings=warnings,
                        deadline=app.correction_due, reply_to=str(season.recommending_unit.email))
    elif evaluation.outcome is CheckOutcome.REVIEW and not _review_confirmed(
            session, app, key := review_key(app, ((r.rule_id, r.kind, r.message) for r in evaluation.reviews))):
        reviews = [r.message for r in evaluation.reviews]
        if not transition(session, app, State.NEEDS_REVIEW, actor=ACTOR, reason=_text("reason.needs_review"),
                          details={**summary, "reviews": reviews, "review_key": key}):
            audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="check",
                  reason=_text("reason.still_needs_review"), details={**summary, "reviews": reviews})
    else:
        if not transition(session, app, State.COMPLETE, actor=ACTOR, reason=_text("reason.complete"), details=summary):
            audit(session, actor=ACTOR, entity_type="application", entity_id=app.id, action="check",
                  reason=_text("reason.complete_again"), details=summary)
        queued = _queue(session, app, season, "complete", i_hash[:16], warnings=warnings,
                        corrected=previous is State.INCOMPLETE)
    return run, queued


class ReviewError(ValueError):
    """A staff review that cannot be recorded (wrong state, no check run); the message says why."""


def confirm_review(session: Session, app: Application, season: Season, *, actor: str, note: str) -> bool:
    """Staff looked at a ``NEEDS_REVIEW`` application and found it in order: record it, move it to ``COMPLETE``.

    The audit event keeps the review key (findings + form files), so a later check of the same files does not
    ask again. Queues the ``complete`` e-mail; returns whether one was queued.
    """
    if State(app.state) is not State.NEEDS_REVIEW:
        raise ReviewError(f"{app.submission_no}: state is {app.state}, not {State.NEEDS_REVIEW.value}")
    if not actor or not note:
        raise ReviewError("a review needs the reviewer (actor) and a note")
    if is_pending(app.applicant.key):
        raise ReviewError(f"{app.submission_no}: its key is not known yet: enter it with --key (award review NO --key CODE)")
    run = latest_run(session, app.id)
    if run is None or run.outcome != CheckOutcome.REVIEW:
        raise ReviewError(f"{app.submission_no}: its latest check did not ask for a review")
    reviews = [(r.rule_id, str(r.details.get("kind", "")), r.message or "") for r in run.results
               if not r.passed and r.severity == Severity.REVIEW]
    key = review_key(app, reviews)
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action=REVIEW_CONFIRMED,
          reason=note, details={"review_key": key, "check_run_id": run.id})
    transition(session, app, State.COMPLETE, actor=actor, reason=_text("reason.review_confirmed", note=note),
               details={"check_run_id": run.id})
    warnings = [{"message": r.message or "", "fix": str(r.details.get("fix", ""))} for r in run.results
                if not r.passed and r.severity == Severity.WARNING]
    return _queue(session, app, season, "complete", run.input_hash[:16], warnings=warnings, corrected=False)


def _pending_filter(season: Season) -> tuple[Any, ...]:
    return (
        Application.season == season.season_id,
        Application.state.in_([s.value for s in CHECKED_STATES]),
        or_(Application.checked_at.is_(None), Application.changed_at > Application.checked_at),
    )


def pending_applications(session: Session, season: Season) -> list[Application]:
    """Applications of the season that are new or changed since their last check and still checkable."""
    stmt = (
        select(Application)
        .where(*_pending_filter(season))
        .options(selectinload(Application.materials), selectinload(Application.applicant))
        .order_by(Application.id)
    )
    return list(session.scalars(stmt))


def pending_application_ids(session: Session, season: Season, among: Iterable[int] | None = None) -> list[int]:
    """Ids of the pending applications (as ``pending_applications``), optionally only those in ``among``."""
    stmt = select(Application.id).where(*_pending_filter(season)).order_by(Application.id)
    if among is None:
        return list(session.scalars(stmt))
    wanted = sorted({int(i) for i in among})
    found: list[int] = []
    for start in range(0, len(wanted), 500):  # bounded IN lists
        found.extend(session.scalars(stmt.where(Application.id.in_(wanted[start:start + 500]))))
    return sorted(found)


def plan_check_batches(
    session_factory: Callable[[], Any],
    season: Season,
    batch_size: int = 200,
    *,
    max_batches: int = MAX_MAP_LENGTH,
) -> list[list[int]]:
    """Ids of the applications needing a check, in batches of ``batch_size`` (for one mapped task per batch).

    Airflow maps a task over at most ``[core] max_map_length`` (1024) items: 1024 batches of 200 cover 204,800
    applications; beyond that the batches grow (``award.batching.chunk``) rather than exceed the limit.
    """
    with session_factory() as session:
        ids = pending_application_ids(session, season)
    batches = chunk(ids, batch_size, max_batches=max_batches)
    log.info("completeness plan: %d applications to check in %d batches", len(ids), len(batches))
    return batches


def run_checks(
    session_factory: Callable[[], Any],
    season: Season,
    load_blob: Callable[[str], bytes],
    *,
    calendar: WorkCalendar | None = None,
    run_id: str | None = None,
    application_ids: Iterable[int] | None = None,
) -> CheckSummary:
    """Check new or changed applications, each in its own transaction (one failure does not undo others).

    ``application_ids=None`` checks every pending application of the season; otherwise only those of the given
    ids that are still pending (so a retried batch does not check an application twice).
    """
    cal = _calendar(season, calendar)
    summary = CheckSummary()
    with session_factory() as session:
        ids = pending_application_ids(session, season, among=application_ids)
    for app_id in ids:
        with session_factory() as session:
            app = session.get(Application, app_id, options=[selectinload(Application.materials),
                                                            selectinload(Application.applicant)])
            if app is None or State(app.state) not in CHECKED_STATES:
                continue
            try:
                with session.begin_nested():
                    run, queued = check_application(session, app, season, load_blob, calendar=cal, run_id=run_id)
            except BlobCorrupt as exc:  # the store's fault, never the applicant's: no finding, no mail, ops told
                log.error("application %s not checked: %s", app_id, exc)
                record_problem(session, code="blob_corrupt", application_id=app_id, status=None,
                               message=_text("problem.blob_corrupt", sha256=exc.sha256))
                summary.integrity_errors.append(app_id)
                continue
            summary.checked += 1
            outcome = CheckOutcome(run.outcome).value
            summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
            summary.mails_queued += int(queued)
            summary.application_ids.append(app_id)
    log.info("completeness checks: %s", summary.as_dict())
    return summary


def latest_run(session: Session, app_id: int) -> CheckRun | None:
    """The application's most recent check run."""
    return session.scalar(
        select(CheckRun).where(CheckRun.application_id == app_id).order_by(CheckRun.id.desc()).limit(1)
    )


def _open_problems(session: Session, app_id: int) -> list[dict[str, str]]:
    run = latest_run(session, app_id)
    if run is None:
        return []
    return [{"message": r.message or "", "fix": str(r.details.get("fix", ""))}
            for r in run.results if not r.passed and r.severity == Severity.BLOCKING]


def _notified_on(session: Session, app_id: int) -> date | None:
    created = session.scalar(
        select(OutboxEmail.created_at)
        .where(OutboxEmail.application_id == app_id, OutboxEmail.template == "correction")
        .order_by(OutboxEmail.id)
        .limit(1)
    )
    return created.date() if created else None


def sweep_deadlines(
    session_factory: Callable[[], Any],
    season: Season,
    *,
    calendar: WorkCalendar | None = None,
) -> SweepSummary:
    """Remind before the correction deadline and close applications still incomplete after it."""
    cal = _calendar(season, calendar)
    today = now().date()
    n_before = season.correction.reminder_workdays_before
    summary = SweepSummary()
    with session_factory() as session:
        ids = list(session.scalars(
            select(Application.id).where(Application.season == season.season_id,
                                         Application.state == State.INCOMPLETE.value,
                                         Application.correction_due.is_not(None)).order_by(Application.id)
        ))
    for app_id in ids:
        with session_factory() as session:
            app = session.get(Application, app_id)
            if app is None or app.state != State.INCOMPLETE.value or app.correction_due is None:
                continue
            due = app.correction_due
            if app.checked_at is None or app.changed_at > app.checked_at:
                summary.waiting_for_check.append(app_id)  # a correction arrived: check it before judging
                continue
            problems = _open_problems(session, app_id)
            if today > due:
                transition(session, app, State.CLOSED_INCOMPLETE, actor=ACTOR,
                           reason=_text("reason.closed_incomplete", due=due.isoformat()),
                           details={"correction_due": due.isoformat()})
                _queue(session, app, season, "closed_incomplete", due.isoformat(), problems=problems, deadline=due)
                summary.closed.append(app_id)
                continue
            if n_before < 1:
                continue
            remind_on = cal.workdays_before(due, n_before)
            notified = _notified_on(session, app_id)
            if remind_on <= today <= due and (notified is None or notified < remind_on):
                if _queue(session, app, season, "correction_reminder", due.isoformat(), problems=problems,
                          deadline=due):
                    summary.reminded.append(app_id)
    log.info("correction deadlines: %s", summary.as_dict())
    return summary
