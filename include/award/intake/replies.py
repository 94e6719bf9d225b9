"""What the senders, the applicants and staff are told about a submission, and the problems recorded for it.

Each reply is queued in the run's outbox batch (``RunState._mail``) under an idempotency key, so a re-run queues
nothing twice: acknowledgment (``mail/ack.txt.j2``), refused files, late, wrong channel, no usable form, a whole
submission refused, a city folder still without its form, and the notices to staff.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from award.clock import now
from award.enums import ApplicationChannel, InboundStatus
from award.forms.spec import document_for
from award.inbound.archive import record_problem
from award.intake.active import labels as active_labels
from award.intake.active import problem_text as active_problem
from award.intake.keyentry import is_pending
from award.intake.kinds import channel_label, kind_label, rules
from award.intake.runstate import RunState
from award.intake.submission import FileIn, Submission, dt_text, size_text
from award.states import State
from award.store.models import Application
from award.templating import message_group

_text = message_group("intake", "intake")


class Replies(RunState):
    """The replies and recorded problems of an intake run."""

    def _recipients(self, app: Application | None, sub: Submission) -> list[str | None]:
        if sub.family == ApplicationChannel.MAIL:
            return [sub.reply_to]
        return [app.applicant.email if app else None]

    def _record_refusals(self, sub: Submission, app: Application | None) -> None:
        for r in sub.refused:
            record_problem(self.session, code=r.code, message=r.reason, inbound_item=r.item, filename=r.filename,
                           application_id=app.id if app else None, status=None)
        self.result.refused_files += len(sub.refused)

    def _refused_mail(self, sub: Submission, app: Application | None) -> None:
        if not sub.refused:
            return
        disc = hashlib.sha256("|".join(sorted(f"{r.item.id}:{r.filename}" for r in sub.refused)).encode()).hexdigest()
        self._mail(
            f"intake:refused_file:{app.id if app else 'item-' + str(sub.items[0].id)}:{disc[:16]}", "refused_file",
            self._recipients(app, sub), app, submission_no=app.submission_no if app else None,
            received_text=dt_text(sub.received_at), subject_line=sub.subject,
            refused=[{"filename": r.filename, "reason": r.reason} for r in sub.refused],
        )

    def _reply(self, app: Application, sub: Submission, added: list[FileIn], created: bool) -> None:
        applicant = app.applicant
        ctx = {"submission_no": app.submission_no, "applicant_name": applicant.name,
               "received_text": dt_text(sub.received_at), "document": document_for(app.category)}
        to = self._recipients(app, sub)
        first = min(i.id for i in sub.items)
        if app.state == State.LATE.value:
            self._mail(f"intake:late:{app.id}:{first}", "late", to, app, correction=False, **ctx)
        elif app.state == State.INELIGIBLE.value and created:
            self._mail(f"intake:wrong_channel:{app.id}:1", "wrong_channel", to, app, **ctx)
        elif added:
            category = self.season.categories.get(app.category)  # type: ignore[call-overload]
            self._mail(
                f"intake:ack:{app.id}:{first}", "ack", to, app, update=not created,
                category_label=category.label if category else app.category,
                channel_label=channel_label(sub.family),
                materials=[{"filename": f.name, "kind_label": kind_label(f.kind), "size_text": size_text(f.size)}
                           for f in added],
                findings=[{"filename": f.name, "labels": active_labels(f.findings)} for f in added if f.findings],
                key_review=problem[1] if (problem := key_review(app, sub, added)) else None,
                refused_count=len(sub.refused), **ctx,
            )
        self._refused_mail(sub, app)

    def _no_form(self, sub: Submission) -> None:
        if sub.family == ApplicationChannel.CITY:  # the form may still be uploading: wait for it
            for item in sub.items:
                item.status = InboundStatus.WAITING
            self.result.waiting += len(sub.items)
            self._folder_waiting(sub)
            return
        self._record_refusals(sub, None)
        item = sub.items[0]
        record_problem(self.session, code="no_form", inbound_item=item, status=InboundStatus.FAILED,
                       message=sub.note or _text("problem.no_form"))
        self.result.failed += 1
        self._mail(f"intake:no_form:item-{item.id}:1", "no_form", [sub.reply_to], None,
                   greeting=_text("greeting.default"),
                   subject_line=sub.subject, received_text=dt_text(sub.received_at), reason=sub.note,
                   files=[f.name for f in sub.files], example_no=f"{self.season.submission_prefix}-{self.season.year}-0007")
        self._refused_mail(sub, None)

    def _record_findings(self, app: Application, added: list[FileIn]) -> None:
        """Active content of the files just added: one problem per file for staff (the applicant is told in the
        acknowledgment); the file itself is kept as it came."""
        for f in added:
            if f.findings:
                record_problem(self.session, code="active_content", inbound_item=f.item, application_id=app.id,
                               filename=f.name, status=None, message=active_problem(f.name, f.findings))

    def _refuse_whole(self, sub: Submission) -> None:
        """A submission refused as a whole: recorded on each item, the sender told why (nothing of any application
        is shown: it is not matched)."""
        whole = sub.whole
        assert whole is not None
        for item in sub.items:
            record_problem(self.session, code=whole.code, message=whole.reason, inbound_item=item, status=InboundStatus.REFUSED)
        self.result.refused_files += 1
        self._mail(f"intake:refused_whole:item-{sub.items[0].id}:1", "refused_file", self._recipients(None, sub), None,
                   greeting=_text("greeting.default"), submission_no=None, received_text=dt_text(sub.received_at),
                   subject_line=sub.subject, refused=[{"filename": whole.filename, "reason": whole.reason}])

    def _folder_waiting(self, sub: Submission) -> None:
        """A city folder still without a form after the grace period: ops and the city's contact are told once."""
        first = min(i.received_at for i in sub.items)
        if now() - first < timedelta(hours=float(rules()["waiting_grace_hours"])):
            return
        folder = sub.folder or ""
        ctx = {"folder": folder, "city": sub.city or "", "since": dt_text(first)}
        self._mail(
            f"intake:folder_waiting:{hashlib.sha256(folder.encode()).hexdigest()[:24]}", "staff_notice",
            [str(self.season.recommending_unit.ops_email), self._city_contact(sub.city)], None,
            greeting=_text("greeting.staff"), title=_text("staff_folder_waiting.title", **ctx),
            text=_text("staff_folder_waiting.text", **ctx),
            items=[(i.filename or "")[len(folder) + 1:] for i in sub.items],
        )

    def _city_contact(self, city: str | None) -> str | None:
        """The e-mail of the city's recommending unit when the season names one (``recommending_units``)."""
        for unit in getattr(self.season, "recommending_units", None) or []:
            names = {getattr(unit, "name", None), getattr(unit, "city", None), *(getattr(unit, "aliases", None) or [])}
            if city and city in names and getattr(unit, "email", None):
                return str(unit.email)
        return None

    def _late_material(self, sub: Submission, app: Application) -> None:
        self._record_refusals(sub, app)
        for item in sub.items:
            record_problem(self.session, code="late", inbound_item=item, application_id=app.id, status=InboundStatus.LATE,
                           message=_text("problem.late", received=dt_text(sub.received_at)))
            item.application_id = app.id
        self.result.late += 1
        ctx = {"submission_no": app.submission_no, "applicant_name": app.applicant.name,
               "received_text": dt_text(sub.received_at), "correction_due": app.correction_due}
        self._mail(f"intake:late:{app.id}:{min(i.id for i in sub.items)}", "late", self._recipients(app, sub), app,
                   correction=bool(app.correction_due), **ctx)


def key_review(app: Application, sub: Submission, added: list[FileIn]) -> tuple[str, str] | None:
    """The key problem of a form just added to an application registered under its stand-in key, else None (a
    keyless form matched to a known applicant by its submission number is the check's to report)."""
    if sub.key_problem is None or sub.form_file not in added or not is_pending(app.applicant.key):
        return None
    return sub.key_problem

