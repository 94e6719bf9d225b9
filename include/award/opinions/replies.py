"""Ingesting department replies: archived mails (purpose ``opinion``) and files under ``opinions/<dept code>/``
in shared storage, matched by token (subject, body, sheet or file name) and recorded as opinions. Unknown tokens
or applicants, unreadable files and unclear texts become ``Problem`` rows and one ``staff_notice`` to ops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from award.enums import InboundPurpose, InboundStatus, OpinionSource, SourceChannel
from award.inbound.archive import record_problem
from award.inbound.mime import parse_message
from award.inbound.sources import fetch_storage
from award.opinions.clearing import ACTOR, OpinionError, record_opinion, refresh_status
from award.opinions.letters import TOKEN_RE, rows_of
from award.opinions.reading import SheetReply, classify, docx_text, pdf_text, read_sheet, read_text
from award.opinions.texts import notice_texts, ops_notice, sheet_texts
from award.runtime import Runtime
from award.states import audit
from award.storage.blobs import sha256_bytes
from award.store import session_scope
from award.store.models import Application, InboundItem, OpinionRequest

STORAGE_PREFIX = "opinions/"


@dataclass
class ReplyOutcome:
    """What ingesting one reply did."""

    item_id: int
    tokens: list[str] = field(default_factory=list)
    opinions: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: bool = False


@dataclass
class _Part:
    """One readable piece of a reply: a sheet, or text with an optional token."""

    kind: str  # sheet | text
    sha256: str
    token: str | None
    sheet: SheetReply | None = None
    text: str = ""


def ingest_replies(rt: Runtime) -> list[ReplyOutcome]:
    """The replies archived from the mailbox, then the files under opinions/<dept code>/ (one transaction each)."""
    with session_scope(rt.db_url) as session:
        outcomes = ingest_pending(session, rt)
    with session_scope(rt.db_url) as session:
        outcomes += ingest_storage(session, rt)
    return outcomes


def ingest_reply(session: Session, rt: Runtime, inbound_item_id: int, *, actor: str = ACTOR) -> ReplyOutcome:
    """Match an archived department reply (an e-mail, or a file from opinions/<dept code>/) and record its opinions.

    Items that are not ``archived`` any more were handled before and are skipped. The item ends ``parsed``
    (possibly with problems recorded for some rows) or ``failed``; staff get one notice listing the problems.
    """
    item = session.get(InboundItem, inbound_item_id)
    if item is None:
        raise OpinionError(f"inbound item {inbound_item_id} does not exist")
    outcome = ReplyOutcome(item.id)
    if item.status != InboundStatus.ARCHIVED:
        outcome.skipped = True
        return outcome
    texts = notice_texts()["problems"]
    data = rt.blobs.get_bytes(item.sha256)
    try:
        parts = _reply_parts(rt, item, data)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is recorded, the original stays archived
        parts = []
        outcome.problems.append(texts["unreadable"].format(filename=item.filename or item.subject or item.id,
                                                           error=type(exc).__name__))
    if not parts and not outcome.problems:
        outcome.problems.append(texts["unsupported"].format(filename=item.filename or item.subject or item.id))
    for part in parts:
        _apply_part(session, rt, item, part, outcome, actor=actor)
    for problem in outcome.problems:
        record_problem(session, code="opinion_reply", message=problem, inbound_item=item, filename=item.filename,
                       status=None)
    parsed = outcome.opinions or (parts and not outcome.problems)
    item.status = InboundStatus.PARSED if parsed else InboundStatus.FAILED
    if outcome.problems:
        staff = notice_texts()["staff"]
        source = item.subject or item.filename or f"#{item.id}"
        ops_notice(session, rt.season, f"opinions:staff_notice:reply:{item.id}", staff["problems_title"],
                   staff["problems_text"].format(source=source), outcome.problems)
    audit(session, actor=actor, entity_type="inbound_item", entity_id=item.id, action="opinion_reply_ingested",
          details={"tokens": outcome.tokens, "opinions": outcome.opinions, "problems": len(outcome.problems),
                   "sender": item.sender})
    return outcome


def _reply_parts(rt: Runtime, item: InboundItem, data: bytes) -> list[_Part]:
    name = (item.filename or "").lower()
    file_token = m.group(0) if (m := TOKEN_RE.search(item.filename or "")) else None
    if item.channel in (SourceChannel.LOCAL, SourceChannel.S3) and not name.endswith(".eml"):
        sha = item.sha256
        if name.endswith(".xlsx"):
            sheet = read_sheet(data)
            return [_Part("sheet", sha, sheet.token or file_token, sheet=sheet)]
        if name.endswith(".docx"):
            text = docx_text(data)
        elif name.endswith(".pdf"):
            text = pdf_text(data)
        elif name.endswith(".txt"):
            text = data.decode("utf-8", errors="replace")
        else:
            return []
        token = m.group(0) if (m := TOKEN_RE.search(text)) else file_token
        return [_Part("text", sha, token, text=text)] if text.strip() else []

    msg = parse_message(data)
    subject_token = m.group(0) if (m := TOKEN_RE.search(msg.subject or "")) else None
    parts: list[_Part] = []
    for att in msg.attachments:
        if att.filename.lower().endswith(".xlsx"):
            sheet = read_sheet(att.data)
            rt.blobs.put_bytes(att.data)  # the sheet is kept as its own blob (opinion source)
            parts.append(_Part("sheet", sha256_bytes(att.data), sheet.token or subject_token, sheet=sheet))
    if parts:
        return parts
    token = subject_token or (m.group(0) if (m := TOKEN_RE.search(msg.body_text or "")) else None)
    return [_Part("text", item.sha256, token, text=msg.body_text or "")]


def _apply_part(session: Session, rt: Runtime, item: InboundItem, part: _Part, outcome: ReplyOutcome, *,
                actor: str) -> None:
    texts = notice_texts()["problems"]
    if part.token is None:
        outcome.problems.append(texts["no_token"])
        return
    request = session.scalar(select(OpinionRequest).where(OpinionRequest.token == part.token))
    if request is None or request.season != rt.season.season_id:
        outcome.problems.append(texts["unknown_token"].format(token=part.token))
        return
    outcome.tokens.append(part.token)
    rows = rows_of(session, rt.season, request)
    found: dict[int, tuple[str, str | None]] = {}
    if part.kind == "sheet" and part.sheet is not None:
        choices = {v: k for k, v in sheet_texts()["choices"].items()}
        by_no = {r.submission_no: r for r in rows}
        by_name = {r.name: r for r in rows}
        for srow in part.sheet.rows:
            who = srow.submission_no or srow.name
            target = by_no.get(srow.submission_no) or by_name.get(srow.name)
            if target is None:
                outcome.problems.append(texts["unknown_applicant"].format(token=part.token, who=who))
                continue
            if not srow.opinion:
                if srow.reason:
                    outcome.problems.append(texts["bad_opinion"].format(token=part.token, who=who, value=""))
                continue
            verdict = choices.get(srow.opinion) or classify(srow.opinion)[0]
            if verdict is None:
                outcome.problems.append(texts["bad_opinion"].format(token=part.token, who=who, value=srow.opinion))
                continue
            found[target.application_id] = (verdict, srow.reason or None)
    else:
        text_reply = read_text(part.text, rows, part.token)
        outcome.problems.extend(text_reply.problems)
        found = text_reply.opinions
    apps = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_(list(found))))}
    for app_id, (verdict, reason) in found.items():
        op = record_opinion(session, rt, request, apps[app_id], verdict, reason, source=OpinionSource.REPLY,
                            source_sha256=part.sha256, received_at=item.received_at, actor=actor)
        if op is not None:
            outcome.opinions.append(op.id)
    refresh_status(session, request)


def ingest_pending(session: Session, rt: Runtime, *, limit: int = 500, actor: str = ACTOR) -> list[ReplyOutcome]:
    """Ingest every archived, not yet handled reply of the season (purpose ``opinion``), oldest first."""
    ids = session.scalars(
        select(InboundItem.id).where(InboundItem.season == rt.season.season_id,
                                     InboundItem.purpose == InboundPurpose.OPINION,
                                     InboundItem.status == InboundStatus.ARCHIVED).order_by(InboundItem.id).limit(limit)
    ).all()
    return [ingest_reply(session, rt, i, actor=actor) for i in ids]


def ingest_storage(session: Session, rt: Runtime, *, prefix: str = STORAGE_PREFIX,
                   actor: str = ACTOR) -> list[ReplyOutcome]:
    """Archive the files under ``opinions/<dept code>/`` in shared storage (once per key and ETag) and ingest them."""
    fetch_storage(session, rt, prefix, purpose=InboundPurpose.OPINION)
    return ingest_pending(session, rt, actor=actor)


def storage_department(key: str) -> str | None:
    """The department code of a shared-storage key ``opinions/<code>/...``."""
    parts = PurePosixPath(key).parts
    return parts[1] if len(parts) > 2 and parts[0] == STORAGE_PREFIX.strip("/") else None
