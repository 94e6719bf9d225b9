"""Which application a submission belongs to, and what it adds: matching, creating, materials, channels.

A submission is matched by season + credit code / ID number from its form, else by the submission number in the
subject (``GS-2023-0007``), else (city batches) by the folder already linked; otherwise its application is created
with a submission number ``<prefix>-<year>-<NNNN>`` (unique constraint + retry). Materials are added once per
content; a newer version of a single-kind material supersedes the older (both kept). The first state is RECEIVED,
LATE after the provincial deadline, or INELIGIBLE for defence-industry units. Material for an existing application
from an unknown mail address is held for staff review.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from award.clock import now
from award.enums import ApplicationChannel, InboundStatus
from award.forms import ParsedForm
from award.inbound.archive import record_problem
from award.inbound.sources import MAIL_CHANNELS
from award.intake.keyentry import is_pending, pending_text, stand_in_application
from award.intake.kinds import SINGLE_KINDS, channel_label
from award.intake.replies import Replies, key_review
from award.intake.runstate import ACTOR
from award.intake.submission import FileIn, Submission, dt_text, mail_address, sub_key
from award.states import State, audit, create_application_state
from award.storage.registry import STORAGE_CHANNELS
from award.store.models import Applicant, Application, InboundItem, Material, Problem
from award.templating import message_group
from award.textclean import clean_fields, fit

_text = message_group("intake", "intake")


class Matching(Replies):
    """Match or create the application of a prepared submission and add what it brought."""

    # ---------------------------------------------------------------- matching and applying
    def _find_application(self, sub: Submission, form: ParsedForm | None) -> Application | None:
        s = self.session
        if sub.stand_in is not None and sub.form_file is not None:  # the same form file: the same application
            app = stand_in_application(s, self.season.season_id, sub.form_file.sha256)
            if app is not None:
                return app
        if form is not None and (form.key or sub.stand_in):
            applicant = self._applicant(*sub_key(sub))  # prefetched for the batch
            if applicant is not None:
                app = self._season_app(applicant)
                if app is not None and app.state != State.WITHDRAWN.value:
                    return app
        numbers = self.number_re.findall(sub.subject or "")
        if numbers:
            app = s.scalar(select(Application).where(Application.season == self.season.season_id,
                                                     Application.submission_no == numbers[0]))
            if app is not None:
                return app
        if sub.folder and form is None:  # files added to a folder whose form came earlier
            app_id = s.scalar(
                select(InboundItem.application_id)
                .where(InboundItem.filename.startswith(f"{sub.folder}/", autoescape=True), InboundItem.application_id.is_not(None),
                       InboundItem.channel.in_(STORAGE_CHANNELS))
                .limit(1)
            )
            if app_id is not None:
                return s.get(Application, app_id)
        return None

    def submit(self, sub: Submission) -> None:
        """Match or create the application of a prepared submission, add materials, set states, queue e-mails."""
        matched = self._match(sub)
        if matched is not None:
            self._apply(sub, *matched)

    def _match(self, sub: Submission) -> tuple[Application, bool] | None:
        """The submission's application and whether it is new; None when answered here (refused as a whole, no
        form, late, held for review)."""
        if sub.whole is not None:
            self._refuse_whole(sub)
            return None
        if sub.family == ApplicationChannel.CITY and sub.city not in self.season.province.cities:
            for item in sub.items:
                record_problem(self.session, code="unknown_city", inbound_item=item, filename=item.filename,
                               status=None, message=_text("problem.unknown_city", city=sub.city))
        form = sub.form
        app = self._find_application(sub, form)
        if app is not None and app.id is None:  # created earlier in this batch: its id is needed now
            self._flush_new()
        late = sub.received_at is not None and sub.received_at > self.deadline
        created = False
        if app is None:
            if form is None:
                self._no_form(sub)
                return None
            app = self._create(sub, form, late)
            created = True
        elif not self._trusted(app, sub):
            self._hold(sub, app)
            return None
        elif late and not self._correction_open(app, sub):
            self._late_material(sub, app)
            return None
        return app, created

    def _apply(self, sub: Submission, app: Application, created: bool) -> None:
        """Add a matched submission's materials, note its channel and items, queue its e-mails."""
        form_file, form = sub.form_file, sub.form
        if created and sub.family == ApplicationChannel.MAIL and not sub.reply_to and (addr := mail_address(app.applicant.email)):
            sub.reply_to = addr  # a mail with no usable From: the acknowledgment goes to the form's address
            audit(self.session, actor=ACTOR, entity_type="application", entity_id=app.id, action="reply_to_form_address",
                  reason=_text("audit.reply_to_form_address", address=addr),
                  details={"items": [i.id for i in sub.items]})
        self._record_refusals(sub, app)
        added = self._add_materials(app, sub, new=created, defer=self._new is not None)
        if form is not None and form_file in added and not created:
            app.fields = clean_fields(form.fields)
        self._record_findings(app, added)
        if form_file is not None and (problem := key_review(app, sub, added)) is not None:
            code, label = problem
            record_problem(self.session, code=code, inbound_item=form_file.item, application_id=app.id,
                           filename=form_file.name, status=None,
                           message=_text("problem.key_not_found", label=label) if code == "key_not_found"
                           else _text("problem.key_unread", label=label))
        self._note_channel(app, sub, added)
        for item in sub.items:
            item.status = InboundStatus.PARSED
            item.application_id = app.id
        if added:
            app.changed_at = now()
        self.result.touched.add(app.id)
        self._reply(app, sub, added, created)

    def known_addresses(self, app: Application) -> set[str]:
        """The addresses on an application: the sender of its first mail, and the form's contact e-mail."""
        known = {a for a in (app.applicant.email, mail_address((app.fields or {}).get("email")),
                             self._creators.get(id(app))) if a}
        if app.id is not None:
            first = self.session.scalar(
                select(InboundItem.sender).where(InboundItem.application_id == app.id,
                                                 InboundItem.channel.in_(MAIL_CHANNELS))
                .order_by(InboundItem.id).limit(1))
            if first and (addr := mail_address(first)):
                known.add(addr)
        return known

    def _trusted(self, app: Application, sub: Submission) -> bool:
        """Whether material for an existing application is accepted automatically: a city upload (the city's own
        storage), a mail from an address already on the application, or a mail staff released after review."""
        if sub.family != ApplicationChannel.MAIL:
            return True
        if sub.reply_to and sub.reply_to in self.known_addresses(app):
            return True
        return any(p.code == "released" for i in sub.items for p in self.session.scalars(
            select(Problem).where(Problem.inbound_item_id == i.id)))

    def _hold(self, sub: Submission, app: Application) -> None:
        """Hold a mail for an existing application from an unknown address: nothing is added; staff review it, the
        application's known addresses are told, and the sender gets a reply that shows nothing of the application."""
        item = sub.items[0]
        record_problem(self.session, code="held_for_review", inbound_item=item, application_id=app.id, status=InboundStatus.HELD,
                       message=_text("problem.held", sender=sub.reply_to or _text("no_sender")))
        self.result.held += 1
        ctx = {"submission_no": app.submission_no, "sender": sub.reply_to or _text("no_sender"),
               "received_text": dt_text(sub.received_at)}
        self._mail(f"intake:held_sender:item-{item.id}:1", "held_sender", [sub.reply_to], None,
                   greeting=_text("greeting.default"), received_text=ctx["received_text"])
        self._mail(f"intake:held_owner:item-{item.id}:1", "held_owner", sorted(self.known_addresses(app)), app, **ctx)
        self._mail(f"intake:staff_held:item-{item.id}:1", "staff_notice", [str(self.season.recommending_unit.ops_email)],
                   app, greeting=_text("greeting.staff"), title=_text("staff_held.title", **ctx),
                   text=_text("staff_held.text", item_id=item.id, **ctx), items=[])

    def _correction_open(self, app: Application, sub: Submission) -> bool:
        if app.state == State.LATE.value:
            return False
        return bool(app.correction_due and sub.received_at and sub.received_at.date() <= app.correction_due)

    def _create(self, sub: Submission, form: ParsedForm, late: bool) -> Application:
        """A new application (and applicant, unless known) for a submission with a form; its first state is set
        with the batch (``_new``) or at once in a savepoint, where a clash with a concurrent run is retried."""
        s = self.session
        kind, key = sub_key(sub)
        fields = clean_fields(form.fields)
        city = fit(Application.city, sub.city or (fields.get("city") if fields.get("city") in self.season.province.cities
                                                  else None))
        state, reason = _first_state(sub, fields, late)
        details = {"channel": sub.family, "items": [i.id for i in sub.items]}
        applicant = self._applicant(kind, key)
        for _attempt in range(50):
            applicant = _applicant_from_form(applicant, kind, key, form, fields, sub, city)
            app = Application(
                season=self.season.season_id, category=form.category, submission_no=self._submission_no(),
                channel=sub.family, channels=[sub.family], city=city, multi_channel=False, fields=dict(fields),
                received_at=sub.received_at or now(), changed_at=now(), state=state.value,
            )
            if sub.reply_to:
                self._creators[id(app)] = sub.reply_to
            if self._new is not None:  # a batch at once: flushed with the batch's other new applications;
                app.applicant = applicant  # a clash rolls the batch back to item-by-item (the retry below)
                self.session.add(app)
                self._new.append((app, state, reason, details))
                break
            try:
                # an existing applicant's new details are flushed before the savepoint; a new applicant goes
                # in with the application (one flush), and the first state with its audit event
                with s.begin_nested():
                    app.applicant = applicant
                    s.add(app)
                    create_application_state(s, app, state, actor=ACTOR, reason=reason, details=details)
                break
            except IntegrityError:
                # a concurrent run took the number, or created the applicant or its application
                applicant = s.scalar(select(Applicant).where(Applicant.kind == kind, Applicant.key == key))
                if applicant is not None:
                    existing = s.scalar(select(Application).where(Application.season == self.season.season_id,
                                                                  Application.applicant_id == applicant.id))
                    if existing is not None:
                        self._applicants[(kind, key)], self._apps[(kind, key)] = applicant, existing
                        return existing
                self._next_no = None  # the number was taken: read the maximum again
        else:  # pragma: no cover - 50 collisions in a row
            raise RuntimeError("could not allocate a submission number")
        self._applicants[(kind, key)], self._apps[(kind, key)] = applicant, app
        if state is State.LATE:
            self.result.late += 1
        elif state is State.INELIGIBLE:
            self.result.ineligible += 1
        self.result.applications_created += 1
        return app

    def _add_materials(self, app: Application, sub: Submission, *, new: bool = False, defer: bool = False
                       ) -> list[FileIn]:
        """Add the submission's new files as materials; ``defer``: rows that supersede nothing wait for
        ``_insert_pending`` (one executemany for many applications)."""
        s = self.session
        if app.id in self._row_apps:  # its pending rows go in first: they count as existing
            self._insert_pending()
        existing = [] if new else list(app.materials)
        known = {m.sha256 for m in existing}
        added: list[FileIn] = []
        new_rows: list[tuple[Material, list[Material]]] = []
        values: list[dict[str, Any]] = []
        for f in sub.files:
            if f.sha256 in known:
                continue
            known.add(f.sha256)
            # a city upload is its own archived blob: no second write
            uri = f.item.storage_uri if f.sha256 == f.item.sha256 else (f.uri or self.rt.blobs.put_bytes(f.data).uri)
            same_kind = [m for m in existing if m.kind == f.kind]
            older = [m for m in same_kind if m.superseded_by_id is None
                     and (f.kind in SINGLE_KINDS or m.filename == f.name)]
            values.append(dict(
                application_id=app.id, kind=f.kind, filename=f.name[:300], sha256=f.sha256, size=f.size,
                content_type=f.content_type, source_channel=sub.family, inbound_item_id=f.item.id,
                storage_uri=uri, version=max((m.version for m in same_kind), default=0) + 1, received_at=now(),
            ))
            row = Material(**values[-1])
            existing.append(row)
            new_rows.append((row, older))
            added.append(f)
        if any(older for _row, older in new_rows):
            s.add_all(row for row, _older in new_rows)
            s.flush()  # ids for superseded_by_id
            for row, older in new_rows:
                for m in older:
                    if m.id != row.id and m.superseded_by_id is None:
                        m.superseded_by_id = row.id
        elif values:
            # nothing to supersede: one executemany (the ORM would INSERT ... RETURNING row by row on SQLite)
            self._rows.extend(values)
            self._row_apps[app.id] = app
            if not defer:
                self._insert_pending()
        self.result.materials_added += len(added)
        return added

    def _note_channel(self, app: Application, sub: Submission, added: list[FileIn]) -> None:
        channels = list(app.channels or [app.channel])
        if sub.family in channels:
            return
        app.channels = [*channels, sub.family]
        if sub.family == ApplicationChannel.CITY and sub.city:
            app.city = sub.city
        if {ApplicationChannel.MAIL, ApplicationChannel.CITY} <= set(app.channels) and not app.multi_channel:
            app.multi_channel = True
            self.result.multi_channel += 1
            audit(self.session, actor=ACTOR, entity_type="application", entity_id=app.id, action="multi_channel",
                  reason=_text("audit.multi_channel"), details={"channels": app.channels})
            channels_text = _text("channel_list", labels=[channel_label(c) for c in app.channels])
            ctx = {"submission_no": app.submission_no, "applicant_name": app.applicant.name,
                   "channels_text": channels_text}
            self._mail(f"intake:multi_channel:{app.id}:1", "multi_channel",
                       [app.applicant.email, sub.reply_to], app, **ctx)
            self._mail(
                f"intake:staff_multi_channel:{app.id}:1", "staff_notice", [str(self.season.recommending_unit.ops_email)],
                app, greeting=_text("greeting.staff"), title=_text("staff_multi_channel.title", **ctx),
                text=_text("staff_multi_channel.text", **ctx),
                items=[_text("staff_multi_channel.item", filename=name, channel=channel_label(channel))
                       for name, channel in current_materials(app, sub, added)],
            )


def _first_state(sub: Submission, fields: dict[str, Any], late: bool) -> tuple[State, str]:
    """A new application's first state and its reason: LATE after the deadline, INELIGIBLE for a defence-industry
    unit, else RECEIVED."""
    if late:
        return State.LATE, _text("state.late", received=dt_text(sub.received_at))
    if fields.get("defence") == "是":
        return State.INELIGIBLE, _text("state.ineligible")
    return State.RECEIVED, _text("state.received")


def _applicant_from_form(applicant: Applicant | None, kind: str, key: str, form: ParsedForm, fields: dict[str, Any],
                         sub: Submission, city: str | None) -> Applicant:
    """The applicant (new when None) with the form's name and contact details; known details are kept when the
    form leaves them out."""
    contact = fields.get("contact") or fields.get("name") or None
    phone = fields.get("contact_phone") or fields.get("phone") or None
    if applicant is None:
        name = form.name or (pending_text(form.category) if is_pending(key) else key)
        applicant = Applicant(kind=kind, key=key, name=fit(Applicant.name, name), created_at=now())
    applicant.name = fit(Applicant.name, form.name) or applicant.name
    applicant.email = mail_address(fields.get("email")) or applicant.email or sub.reply_to
    applicant.phone = fit(Applicant.phone, phone) or applicant.phone
    applicant.contact_name = fit(Applicant.contact_name, contact) or applicant.contact_name
    applicant.city = applicant.city or fit(Applicant.city, city)
    return applicant


def current_materials(app: Application, sub: Submission, added: list[FileIn]) -> list[tuple[str, str]]:
    """(file name, channel) of the application's current materials, this submission's new files included.

    ``app.materials`` was loaded before the submission's rows were written (deferred rows go in with one
    executemany later), so the files just added are taken from ``added``.
    """
    current = [m for m in app.materials if m.superseded_by_id is None]
    known = {m.sha256 for m in current}
    return ([(m.filename, m.source_channel) for m in current]
            + [(f.name[:300], sub.family) for f in added if f.sha256 not in known])

