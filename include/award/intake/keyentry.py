"""A form whose applicant key could not be read: its stand-in key, and staff entering the real key.

A recognised form (its category known) whose key — the credit code (``统一社会信用代码`` and its synonyms) of an
organisation, the ID number of a person, the unit's credit code and the team name of a team — is not in the form
(``key_not_found``) or is blank or unreadable (``key_unread``) is not refused. Intake registers it under
``pending:<sha256 of the form file>``: the same file again maps to the same application, and no other
submission matches it (keys match exactly; a typed key is never taken for a stand-in). The application goes to
staff review (``checks``: the key field's finding has severity ``review``, never a 补正 demand).

``enter_key`` (``award review NO --key CODE [--join] --actor NAME``) is the staff side: the code is validated as
the identity module does, written with an audit event (who, the stand-in, the new key), and with ``join`` the
application is merged into the season's application that already has this key (its materials move there; the
stand-in application is withdrawn with the reason, audited). The next completeness run checks the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from award.clock import now
from award.forms.spec import FieldSpec, form_for_category, form_spec
from award.identity import mask_id_number, validate_credit_code, validate_id_number
from award.states import State, audit, transition
from award.store.models import Applicant, Application, InboundItem, Material
from award.templating import message_group

if TYPE_CHECKING:
    from award.forms.parser import ParsedForm

PENDING_PREFIX = "pending:"
KEY_ENTERED = "key_entered"  # audit action: staff entered the key of a stand-in application
JOINED = "joined"  # audit action on the application that received a stand-in application's materials
# the states in which a key may be entered / an application joined (before the consultation rounds)
OPEN_STATES = frozenset({State.RECEIVED, State.INCOMPLETE, State.COMPLETE, State.NEEDS_REVIEW})
SINGLE_KINDS = frozenset({"form_docx", "form_pdf", "publicity_proof", "unit_opinion", "city_recommendation"})

_text = message_group("intake", "intake.key")


class KeyEntryError(ValueError):
    """A key that cannot be entered (invalid code, wrong state, key taken without ``join``); says why."""


def stand_in_key(sha256: str) -> str:
    """The stand-in key of a form file: ``pending:<sha256>``."""
    return PENDING_PREFIX + sha256.lower()


def is_pending(key: str | None) -> bool:
    """Whether an applicant key is a stand-in (case-insensitive: a typed ``PENDING:…`` is never a real key)."""
    return bool(key) and str(key).strip().lower().startswith(PENDING_PREFIX)


def key_problem(form: ParsedForm) -> tuple[str, str] | None:
    """``(code, label)`` when the form's key cannot be read, else None: ``key_not_found`` (the label is not in
    the form) or ``key_unread`` (the label is there, its cell blank or unreadable); the label from the spec."""
    spec = form_spec(form.form_id)
    for key in _key_fields(spec.category, spec.code_field):
        value = (form.fields.get(key) or "").strip()
        if not value or is_pending(value):
            code = "key_not_found" if key in form.missing else "key_unread"
            return code, spec.field(key).label
    return None


def _key_fields(category: str, code_field: str) -> tuple[str, ...]:
    return (code_field, "team_name") if category == "team" else (code_field,)


def key_field(category: str) -> FieldSpec:
    """The form field that holds an application's key (credit code or ID number)."""
    spec = form_for_category(category)
    return spec.field(spec.code_field)


def pending_text(category: str) -> str:
    """How a stand-in key is shown to staff (desk, ``award show``): 待核实（表内未读到…）."""
    try:
        label = key_field(category).label
    except KeyError:
        label = _text("label_fallback")
    return _text("display", label=label)


@dataclass(frozen=True)
class KeyEntry:
    """What ``enter_key`` did (no ID number in clear: safe to print)."""

    submission_no: str
    state: str
    key: str  # masked for a person
    joined: str | None  # the submission number the application was merged into

    def as_dict(self) -> dict[str, str | None]:
        return {"submission_no": self.submission_no, "state": self.state, "key": self.key, "joined": self.joined}


def _validated(app: Application, code: str) -> str:
    """The application's new key from the code staff typed (validated), or KeyEntryError naming the field."""
    field = key_field(app.category)
    check = validate_id_number(code) if field.type == "id_number" else validate_credit_code(code)
    if not check.valid:
        raise KeyEntryError(_text("invalid", label=field.label, reason=(check.reason or "").rstrip("。")))
    if app.category == "team":
        team = ((app.fields or {}).get("team_name") or "").strip()
        if not team:
            raise KeyEntryError(_text("no_team_name", label=form_for_category("team").field("team_name").label))
        return f"{check.normalized}/{team}"
    return check.normalized


def enter_key(session: Session, app: Application, *, code: str, actor: str, join: bool = False) -> KeyEntry:
    """Staff enter the key of an application registered under a stand-in key (see the module docstring)."""
    if not actor.strip():
        raise KeyEntryError(_text("no_actor"))
    applicant = app.applicant
    if not is_pending(applicant.key):
        raise KeyEntryError(_text("not_pending", submission_no=app.submission_no))
    if State(app.state) not in OPEN_STATES:
        raise KeyEntryError(_text("closed", submission_no=app.submission_no, state=app.state))
    new_key = _validated(app, code)
    field = key_field(app.category)
    value = new_key.split("/", 1)[0]
    old_key = applicant.key
    owner = session.scalar(select(Applicant).where(Applicant.kind == applicant.kind, Applicant.key == new_key))
    target = None if owner is None else session.scalar(
        select(Application).where(Application.season == app.season, Application.applicant_id == owner.id))
    if target is not None and not join:
        raise KeyEntryError(_text("taken", label=field.label, submission_no=target.submission_no))
    if target is None and join:
        raise KeyEntryError(_text("nothing_to_join", label=field.label))
    shown = mask_id_number(value) if applicant.kind == "person" else value
    details = {"old_key": old_key, "new_key": new_key, "field": field.key}
    app.fields = {**(app.fields or {}), field.key: value}
    if target is None:
        if owner is None:
            applicant.key = new_key
        else:  # known from an earlier season: the application goes to that applicant
            app.applicant = owner
            session.flush()
            session.delete(applicant)
        app.changed_at = now()
        audit(session, actor=actor, entity_type="application", entity_id=app.id, action=KEY_ENTERED,
              reason=_text("audit.entered", label=field.label), details=details)
        session.flush()
        return KeyEntry(app.submission_no, app.state, shown, None)
    if State(target.state) not in OPEN_STATES:
        raise KeyEntryError(_text("closed", submission_no=target.submission_no, state=target.state))
    _join(session, app, target, actor=actor)
    audit(session, actor=actor, entity_type="application", entity_id=app.id, action=KEY_ENTERED,
          reason=_text("audit.entered", label=field.label), details={**details, "joined": target.submission_no})
    session.flush()
    return KeyEntry(app.submission_no, app.state, shown, target.submission_no)


def _join(session: Session, app: Application, target: Application, *, actor: str) -> None:
    """Move ``app``'s materials (those ``target`` does not hold already) and inbound items to ``target``; a moved
    file newer than ``target``'s current one of the same kind supersedes it; ``app`` is withdrawn."""
    held = {m.sha256 for m in target.materials}
    moving = sorted((m for m in app.materials if m.sha256 not in held), key=lambda m: (m.received_at, m.id))
    newest_form = False
    for m in moving:
        same = [t for t in target.materials if t.kind == m.kind]
        current = [t for t in same if t.superseded_by_id is None
                   and (m.kind in SINGLE_KINDS or t.filename == m.filename)]
        m.version = max((t.version for t in same), default=0) + 1
        m.application = target
        if m.superseded_by_id is not None:
            continue  # an older version within the stand-in application: its newer one moves too
        for t in current:
            if t.received_at <= m.received_at:
                t.superseded_by_id = m.id
                newest_form = newest_form or m.kind == "form_docx"
            else:
                m.superseded_by_id = t.id
        if not current and m.kind == "form_docx":
            newest_form = True
    session.flush()
    if newest_form:
        target.fields = dict(app.fields or {})
    session.execute(update(InboundItem).where(InboundItem.application_id == app.id).values(application_id=target.id))
    channels = list(dict.fromkeys([*(target.channels or [target.channel]), *(app.channels or [app.channel])]))
    target.channels = channels
    target.multi_channel = target.multi_channel or {"mail", "city"} <= set(channels)
    target.changed_at = now()
    audit(session, actor=actor, entity_type="application", entity_id=target.id, action=JOINED,
          reason=_text("audit.joined", submission_no=app.submission_no),
          details={"from": app.submission_no, "materials": [m.id for m in moving]})
    transition(session, app, State.WITHDRAWN, actor=actor,
               reason=_text("audit.withdrawn", submission_no=target.submission_no),
               details={"joined": target.submission_no})
    session.expire(app, ["materials"])
    session.expire(target, ["materials"])


def stand_in_application(session: Session, season_id: str, sha256: str) -> Application | None:
    """The season's application (not withdrawn) that holds this exact form file, if any."""
    return session.scalar(
        select(Application).join(Material, Material.application_id == Application.id)
        .where(Application.season == season_id, Material.sha256 == sha256,
               Application.state != State.WITHDRAWN.value)
        .order_by(Application.id).limit(1))
