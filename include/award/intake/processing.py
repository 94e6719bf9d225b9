"""The intake run: turn archived inbound items (e-mails, city uploads) into applicants, applications and materials.

Runs after the sources (``award.inbound.sources``) archived everything. For each pending item (status ``archived``,
purpose ``application``):

* read it: decode the mail (``award.inbound.mime.parse_message``), or read a city folder; expand zips and screen
  files (``award.intake.submission.unpack``);
* classify the files and choose the form (``award.intake.classify``);
* match or create the application and add its materials (``award.intake.matching``), and queue the e-mails
  (``award.intake.replies``) in the outbox.

City batches: ``incoming/<city>/<applicant folder>/...``; the city's own letter ``incoming/<city>/<...推荐函...>``
becomes a ``city_recommendation`` material of every application of that city's batch. Folder files that arrive
before their form wait (status ``waiting``) and join the application when the form comes.

Late: an item archived after ``season.dates.provincial_deadline`` is late (the message Date header is only
information). Materials for an existing application are still accepted until its ``correction_due`` date.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from award.clock import now
from award.enums import ApplicationChannel, InboundPurpose, InboundStatus
from award.inbound.archive import record_problem
from award.inbound.mime import parse_message
from award.inbound.sources import MAIL_CHANNELS
from award.intake.classify import choose_form
from award.intake.filetypes import guess_content_type
from award.intake.kinds import is_city_letter
from award.intake.matching import Matching
from award.intake.runstate import INCOMING, IntakeResult
from award.intake.submission import (
    MB,
    SUBJECT_CHARS,
    FileIn,
    Refused,
    Submission,
    dt_text,
    mail_address,
    size_text,
    unpack,
)
from award.runtime import Runtime
from award.states import State
from award.storage.registry import STORAGE_CHANNELS
from award.store.models import Application, InboundItem
from award.templating import message_group
from award.textclean import clean

log = logging.getLogger(__name__)

BATCH = 50  # submissions read, looked up and committed together

_text = message_group("intake", "intake")


def process_pending(session: Session, rt: Runtime, *, limit: int | None = None) -> IntakeResult:
    """Process every pending archived item of the season (see the module docstring); commits as it goes."""
    return Intake(session, rt).run(limit=limit)


def structure_text(code: str) -> str:
    """What was wrong with a mail's MIME structure, for its sender (``award.inbound.mime`` ``structure``)."""
    return {
        "no_boundary": _text("structure.no_boundary"), "too_deep": _text("structure.too_deep"),
        "truncated": _text("structure.truncated"), "unparseable": _text("structure.unparseable"),
    }[code]


class Intake(Matching):
    """One intake run over a session: batches of submissions, each read, prepared, matched and applied."""

    def run(self, limit: int | None = None) -> IntakeResult:
        """Process pending mail items, then city folders, then city letters.

        Batches of ``BATCH``: read and parse every submission of the batch, look up their applicants at once,
        apply the batch (at once; item by item in savepoints if that fails), queue the batch's e-mails, commit.
        """
        s = self.session
        mail_q = (
            select(InboundItem)
            .where(InboundItem.season == self.season.season_id, InboundItem.purpose == InboundPurpose.APPLICATION,
                   InboundItem.status == InboundStatus.ARCHIVED, InboundItem.channel.in_(MAIL_CHANNELS))
            .order_by(InboundItem.id)
        )
        if limit:
            mail_q = mail_q.limit(limit)
        mail_items = s.scalars(mail_q).all()
        for start in range(0, len(mail_items), BATCH):
            self._run_batch([([item], self.read_mail, (item,)) for item in mail_items[start:start + BATCH]])
        self._commit()
        storage = list(s.scalars(
            select(InboundItem)
            .where(InboundItem.season == self.season.season_id, InboundItem.purpose == InboundPurpose.APPLICATION,
                   InboundItem.status.in_((InboundStatus.ARCHIVED, InboundStatus.WAITING)), InboundItem.channel.in_(STORAGE_CHANNELS))
            .order_by(InboundItem.id)
        ))
        folders: dict[str, list[InboundItem]] = defaultdict(list)
        letters: list[InboundItem] = []
        for item in storage:
            name = item.filename or ""
            parts = PurePosixPath(name).parts
            if len(parts) >= 4 and name.startswith(INCOMING):
                folders["/".join(parts[:3])].append(item)
            elif len(parts) == 3 and name.startswith(INCOMING) and is_city_letter(parts[2]):
                letters.append(item)
            else:
                self._bad_location(item)
        ordered = sorted(folders.items())
        for start in range(0, len(ordered), BATCH):
            self._run_batch([(items, self.read_folder, (items, folder))
                             for folder, items in ordered[start:start + BATCH]])
        cities = {PurePosixPath(i.filename or "").parts[1] for i in letters}
        cities |= {PurePosixPath(f).parts[1] for f in folders}
        for city in sorted(cities):
            self._guarded([], self.attach_city_letter, city)
        self._commit()
        return self.result

    def _run_batch(self, jobs: list[tuple[list[InboundItem], Callable[..., Submission], tuple[Any, ...]]]) -> None:
        """Read each job's submission (``reader(*args)``), look up the applicants at once, apply, commit."""
        subs: list[tuple[list[InboundItem], Submission]] = []
        for items, reader, args in jobs:
            try:  # reading touches no row: no savepoint needed
                sub = reader(*args)
                self.prepare(sub)
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
                self._failed(items, exc)
                continue
            subs.append((items, sub))
        self._prefetch([sub for _items, sub in subs])
        if not self._apply_batch(subs):
            for items, sub in subs:
                self._guarded(items, self.submit, sub)
        self._commit()

    def _apply_batch(self, subs: list[tuple[list[InboundItem], Submission]]) -> bool:
        """Apply the whole batch in one savepoint: new applications in one flush, materials in one INSERT.

        Any error rolls the batch back (rows, queued e-mails, counters) and returns False; the caller then applies
        each submission in its own savepoint, so that only a failing one fails and the others still go in.
        """
        if not subs:
            return True
        mails, result = len(self._mails), replace(self.result, touched=set(self.result.touched))
        try:
            with self.session.begin_nested():
                self._new = []
                matched = [(sub, m) for _items, sub in subs if (m := self._match(sub)) is not None]
                self._flush_new()
                for sub, (app, created) in matched:
                    self._apply(sub, app, created)
                self._insert_pending()
        except Exception as exc:  # noqa: BLE001 - retried item by item, where a failure is recorded
            log.warning("a batch of %d submissions failed (%s: %s); applying them one by one",
                        len(subs), type(exc).__name__, exc)
            del self._mails[mails:]
            self.result = result
            self._rows.clear()
            self._row_apps.clear()
            self._applicants.clear()  # rows created in the batch are gone
            self._apps.clear()
            self._next_no = None
            return False
        finally:
            self._new = None
        return True


    def _guarded(self, items: list[InboundItem], fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` in a savepoint; a crash marks ``items`` failed and the run goes on."""
        mails = len(self._mails)
        try:
            with self.session.begin_nested():
                fn(*args)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
            del self._mails[mails:]  # its e-mails go with its rolled-back rows
            self._rows.clear()
            self._row_apps.clear()
            self._applicants.clear()  # it may have created rows that are gone now
            self._apps.clear()
            self._failed(items, exc)

    def _failed(self, items: list[InboundItem], exc: Exception) -> None:
        log.exception("intake failed on items %s", [i.id for i in items], exc_info=exc)
        for item in items:
            record_problem(self.session, code="intake_error",
                           message=_text("problem.intake_error", error=type(exc).__name__),
                           inbound_item=item, status=InboundStatus.FAILED)
            if item.channel in MAIL_CHANNELS:  # quarantined: the sender is told, staff look at it
                self._mail(f"intake:failed:item-{item.id}:1", "intake_failed", [mail_address(item.sender)], None,
                           greeting=_text("greeting.default"), received_text=dt_text(item.received_at))
        self.result.failed += len(items)

    def _bad_location(self, item: InboundItem) -> None:
        record_problem(
            self.session, code="unexpected_location", inbound_item=item, filename=item.filename, status=InboundStatus.FAILED,
            message=_text("problem.unexpected_location"),
        )
        self.result.failed += 1


    # ---------------------------------------------------------------- mail
    def read_mail(self, item: InboundItem) -> Submission:
        """One archived e-mail: its attachments become one submission (read and screened, nothing written)."""
        self.result.items += 1
        if item.size > self.limits.max_mail_bytes:  # refused before it is read and decoded (memory)
            sub = Submission(ApplicationChannel.MAIL, [item], reply_to=mail_address(item.sender), subject=clean(item.subject, SUBJECT_CHARS)
                             or "", received_at=item.received_at)
            sub.refuse_whole("mail_too_large", _text("mail_too_large", size=size_text(item.size),
                                                     max_mb=self.limits.max_mail_bytes // MB))
            return sub
        msg = parse_message(self.rt.blobs.get_bytes(item.sha256))
        sub = Submission(ApplicationChannel.MAIL, [item], reply_to=mail_address(msg.sender_addr) or mail_address(item.sender),
                         subject=clean(msg.subject, SUBJECT_CHARS) or "", received_at=item.received_at)
        attachments = [a for a in msg.attachments
                       if not (a.origin == "inline" and a.content_type.startswith("image/"))]  # signatures, logos
        if len(attachments) > self.limits.max_attachments:
            sub.refuse_whole("too_many_attachments", _text("too_many_attachments", count=len(attachments),
                                                           max_attachments=self.limits.max_attachments))
            return sub
        if msg.structure is not None:  # said to the sender if no form can be used
            sub.note = structure_text(msg.structure)
        for att in attachments:
            if att.truncated:
                sub.refused.append(Refused(att.filename, "truncated", _text("truncated", name=att.filename), item))
                continue
            unpack(sub, item, att.filename, att.data, self.limits, att.sha256,  # hashed by parse_message
                   store=self._store)
            if sub.over_limits(self.limits):
                break
        return sub

    # ---------------------------------------------------------------- city folders
    def read_folder(self, items: list[InboundItem], folder: str) -> Submission:
        """One applicant folder of a city batch (``incoming/<city>/<applicant>``), read and screened."""
        city = PurePosixPath(folder).parts[1]
        self.result.items += len([i for i in items if i.status == InboundStatus.ARCHIVED])
        sub = Submission(ApplicationChannel.CITY, items, city=city, folder=folder, received_at=max(i.received_at for i in items))
        for item in items:
            rel = (item.filename or "")[len(folder) + 1:]
            unpack(sub, item, rel, self.rt.blobs.get_bytes(item.sha256), self.limits, store=self._store)
            if sub.over_limits(self.limits):
                break
        return sub


    def prepare(self, sub: Submission) -> None:
        """Classify the files, parse the forms and choose the submission's form (no database access)."""
        choose_form(sub)

    # ---------------------------------------------------------------- city letters
    def attach_city_letter(self, city: str) -> None:
        """Attach the city's newest letter to every application of its batch (once per content)."""
        s = self.session
        prefix = f"{INCOMING}{city}/"
        candidates = [
            i for i in s.scalars(
                select(InboundItem).where(InboundItem.season == self.season.season_id,
                                          InboundItem.channel.in_(STORAGE_CHANNELS),
                                          InboundItem.filename.startswith(prefix, autoescape=True),
                                          InboundItem.status.in_((InboundStatus.ARCHIVED, InboundStatus.PARSED)))
                .order_by(InboundItem.id)
            )
            if len(PurePosixPath(i.filename or "").parts) == 3 and is_city_letter(PurePosixPath(i.filename or "").name)
        ]
        if not candidates:
            return
        letter = candidates[-1]
        for item in candidates:
            if item.status == InboundStatus.ARCHIVED:
                item.status = InboundStatus.PARSED
                self.result.items += 1
        app_ids = set(s.scalars(
            select(InboundItem.application_id).where(
                InboundItem.channel.in_(STORAGE_CHANNELS), InboundItem.filename.startswith(prefix, autoescape=True),
                InboundItem.application_id.is_not(None))
        ))
        apps = s.scalars(
            select(Application).options(selectinload(Application.materials))
            .where(Application.id.in_(app_ids), Application.season == self.season.season_id,
                   Application.state.not_in((State.LATE.value, State.INELIGIBLE.value)))
        ).all() if app_ids else []
        data: bytes | None = None
        content_type = ""
        for app in apps:  # the letter for every application of the batch: one executemany
            if any(m.sha256 == letter.sha256 for m in app.materials):
                continue
            if data is None:
                data = self.rt.blobs.get_bytes(letter.sha256)
                content_type = guess_content_type(letter.filename or "", data)
            sub = Submission(ApplicationChannel.CITY, [letter], city=city)
            f = FileIn(PurePosixPath(letter.filename or "").name, data, letter.sha256, letter, "city_recommendation",
                       content_type=content_type)
            sub.files = [f]
            if self._add_materials(app, sub, defer=True):
                app.changed_at = now()
                self.result.touched.add(app.id)
        self._insert_pending()

