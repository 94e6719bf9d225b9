"""The state of one intake run that every step shares: counts, look-ups, numbering, and the e-mail queue.

``RunState`` is the base of the run's classes: ``award.intake.replies.Replies`` (what the senders are told),
``award.intake.matching.Matching`` (which application a submission belongs to, and what it adds), and
``award.intake.processing.Intake`` (the run itself: batches, savepoints, reading the items). Each layer only calls
its own methods and those below it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from award.config import Season
from award.intake.submission import Submission, dt_text, limits_of, sub_key, submission_pattern
from award.mail.outbox import PreparedMail, enqueue_many
from award.mail.outbox import prepare as prepare_mail
from award.runtime import Runtime
from award.states import State, create_application_states
from award.store.models import Applicant, Application, Material
from award.templating import message_group

log = logging.getLogger(__name__)

ACTOR = "intake"
INCOMING = "incoming/"
# inbound statuses of intake that award.enums.InboundStatus does not list yet

_text = message_group("intake", "intake")


@dataclass
class IntakeResult:
    """What one ``process_pending`` run did (counts only: XCom-safe)."""

    items: int = 0
    applications_created: int = 0
    materials_added: int = 0
    refused_files: int = 0
    late: int = 0
    ineligible: int = 0
    multi_channel: int = 0
    waiting: int = 0
    failed: int = 0
    held: int = 0
    mails_queued: int = 0
    touched: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, int)}
        out["applications_touched"] = len(self.touched)
        return out


class RunState:
    """One intake run over a session: its counts, caches of the season's numbers and look-ups, and its mails."""

    def __init__(self, session: Session, rt: Runtime) -> None:
        self.session = session
        self.rt = rt
        self.season: Season = rt.season
        self.limits = limits_of(self.season)
        self.deadline = self.season.dates.provincial_deadline
        self.number_re = submission_pattern(self.season)
        self.result = IntakeResult()
        self._next_no: int | None = None
        self._creators: dict[int, str] = {}  # id(new Application) -> the address its first submission came from
        # look-ups of this run, both by the applicant's (kind, key) (a new applicant has no id until its batch is
        # flushed): the applicant and its application of this season (None: known to be absent); filled per
        # batch, kept in step by _create, cleared when a batch or an item fails
        self._applicants: dict[tuple[str, str], Applicant | None] = {}
        self._apps: dict[tuple[str, str], Application | None] = {}
        self._mails: list[PreparedMail] = []  # rendered, queued at the end of the batch (enqueue_many)
        # a batch applied at once (see _apply_batch): its new applications (flushed together) ...
        self._new: list[tuple[Application, State, str, dict[str, Any] | None]] | None = None
        # ... and material rows that supersede nothing, inserted by one executemany (_insert_pending)
        self._rows: list[dict[str, Any]] = []
        self._row_apps: dict[int, Application] = {}
        unit = self.season.recommending_unit
        self.base_ctx = {
            "unit": unit,
            "season_label": f"{self.season.award.edition}{self.season.award.name}",
            "deadline_text": dt_text(self.deadline),
        }

    # ---------------------------------------------------------------- e-mails and numbers
    def _ctx(self, greeting: str, **extra: Any) -> dict[str, Any]:
        return {**self.base_ctx, "greeting": greeting, **extra}

    def _mail(self, key: str, template: str, to: Iterable[str | None], app: Application | None, **ctx: Any) -> None:
        recipients = sorted({t for t in to if t})
        if not recipients:
            log.info("no recipient for %s (%s)", template, key)
            return
        greeting = ctx.pop("greeting", None) or (app.applicant.contact_name if app and app.applicant.contact_name
                                                 else _text("greeting.default"))
        self._mails.append(prepare_mail(
            key=key, template=template, to=recipients, context=self._ctx(greeting, **ctx),
            application_id=app.id if app else None,
        ))

    def _flush_mails(self) -> None:
        """Queue the batch's e-mails (one SELECT of existing keys, one INSERT; the first e-mail of a key wins)."""
        if self._mails:
            self.result.mails_queued += sum(created for _row, created in enqueue_many(self.session, self._mails))
            self._mails.clear()

    def _commit(self) -> None:
        self._flush_mails()
        self.session.commit()

    def _submission_no(self) -> str:
        prefix = f"{self.season.submission_prefix}-{self.season.year}-"
        if self._next_no is None:
            last = self.session.scalar(
                select(func.max(Application.submission_no)).where(Application.submission_no.startswith(prefix, autoescape=True))
            )
            self._next_no = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        no = f"{prefix}{self._next_no:04d}"
        self._next_no += 1
        return no

    # ---------------------------------------------------------------- rows of a batch, and look-ups
    def _flush_new(self) -> None:
        """Give the batch's new applications their first states: one flush for all (their ids), audited."""
        if self._new:
            create_application_states(self.session, self._new, actor=ACTOR)
            self._new.clear()

    def _insert_pending(self) -> None:
        """Insert the pending material rows (one executemany) and let their applications reload materials."""
        if self._rows:
            self.session.execute(insert(Material), self._rows)
            for app in self._row_apps.values():
                self.session.expire(app, ["materials"])
            self._rows.clear()
            self._row_apps.clear()

    def _prefetch(self, subs: list[Submission]) -> None:
        """Load the applicants of the batch's forms, and their applications of this season, in two queries."""
        keys = {k for sub in subs if sub.form is not None and (k := sub_key(sub)) not in self._applicants}
        if not keys:
            return
        found: list[Applicant] = []
        names = sorted({key for _kind, key in keys})
        for start in range(0, len(names), 500):
            found.extend(a for a in self.session.scalars(
                select(Applicant).where(Applicant.key.in_(names[start:start + 500]))) if (a.kind, a.key) in keys)
        for k in keys:
            self._applicants[k] = None
        for applicant in found:
            self._applicants[(applicant.kind, applicant.key)] = applicant
        by_id = {a.id: (a.kind, a.key) for a in found if (a.kind, a.key) not in self._apps}
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for app_id in chunk:
                self._apps[by_id[app_id]] = None
            for app in self.session.scalars(select(Application).where(
                    Application.season == self.season.season_id, Application.applicant_id.in_(chunk))):
                self._apps[by_id[app.applicant_id]] = app

    def _applicant(self, kind: str, key: str) -> Applicant | None:
        if (kind, key) not in self._applicants:
            self._applicants[(kind, key)] = self.session.scalar(
                select(Applicant).where(Applicant.kind == kind, Applicant.key == key))
        return self._applicants[(kind, key)]

    def _season_app(self, applicant: Applicant) -> Application | None:
        k = (applicant.kind, applicant.key)
        if k not in self._apps:
            self._apps[k] = None if applicant.id is None else self.session.scalar(select(Application).where(
                Application.season == self.season.season_id, Application.applicant_id == applicant.id))
        return self._apps[k]

    def _store(self, data: bytes) -> str:
        """Put a file of a submission in the blob store (content-addressed: a file refused later costs nothing)."""
        return str(self.rt.blobs.put_bytes(data).uri)

