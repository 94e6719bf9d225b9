"""`award outbox show|retry|resolve`: what the outbox holds, requeue e-mails, confirm unknown ones as delivered."""

from __future__ import annotations

import argparse
from typing import Any

from award.cli.common import add_json_flag, emit, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award outbox`` and its sub-commands."""
    parser = sub.add_parser("outbox", help="the outbox: show, retry, resolve")
    outbox_sub = parser.add_subparsers(dest="outbox_command", required=True)

    show = outbox_sub.add_parser("show", help="counts per status and every unknown or failed e-mail")
    show.add_argument("--all", action="store_true", help="list every unfinished e-mail, not only unknown/failed")
    add_json_flag(show)
    show.set_defaults(func=_show)

    retry = outbox_sub.add_parser("retry", help="requeue now: pending ones skip their backoff")
    retry.add_argument("ids", nargs="*", type=int, help="only these e-mail ids")
    retry.add_argument("--failed", action="store_true", help="also requeue failed e-mails")
    retry.add_argument("--unknown", action="store_true",
                       help="also requeue e-mails whose outcome is unknown (checked: not delivered)")
    add_json_flag(retry)
    retry.set_defaults(func=_retry)

    resolve = outbox_sub.add_parser("resolve", help="mark unknown e-mails as delivered (checked with the recipient)")
    resolve.add_argument("ids", nargs="+", type=int)
    resolve.add_argument("--sent", action="store_true", required=True, help="they were delivered")
    add_json_flag(resolve)
    resolve.set_defaults(func=_resolve)


def _url() -> str:
    return store_url()


def _show(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from award.identity import mask_email
    from award.states import OutboxStatus
    from award.store import session_scope
    from award.store.models import OutboxEmail
    from award.templating import message_group

    _text = message_group("outbox", "cli")
    listed = ([OutboxStatus.PENDING, OutboxStatus.SENDING] if args.all else []) + [
        OutboxStatus.UNKNOWN, OutboxStatus.FAILED]
    with session_scope(_url()) as session:
        counts = dict(session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all())
        rows: list[dict[str, Any]] = [
            {"id": r.id, "status": r.status, "attempts": r.attempts, "to": [mask_email(str(a)) for a in r.to_addrs],
             "subject": r.subject, "error": r.last_error or "", "since": r.next_attempt_at.isoformat()}
            for r in session.scalars(select(OutboxEmail).where(OutboxEmail.status.in_(listed)).order_by(OutboxEmail.id))]
    per_status: dict[str, int] = {s.value: counts.get(s.value, 0) for s in OutboxStatus}
    data = {"counts": per_status, "emails": rows}
    lines = [_text("summary", counts="  ".join(f"{k} {v}" for k, v in per_status.items()))]
    lines += [_text("row", id=r["id"], status=r["status"], attempts=r["attempts"], to=", ".join(r["to"]),
                    subject=r["subject"], error=r["error"][:120]) for r in rows]
    emit(data, as_json=args.json, human="\n".join(lines))
    return 0


def _retry(args: argparse.Namespace) -> int:
    from award.mail import retry
    from award.store import session_scope
    from award.templating import message_group

    _text = message_group("outbox", "cli")
    with session_scope(_url()) as session:
        done = retry(session, failed=args.failed, unknown=args.unknown, ids=args.ids)
    human = _text("requeued", n=len(done), ids=", ".join(map(str, done))) if done else _text("nothing")
    emit({"requeued": done}, as_json=args.json, human=human)
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from award.mail import resolve_sent
    from award.store import session_scope
    from award.templating import message_group

    _text = message_group("outbox", "cli")
    with session_scope(_url()) as session:
        done = resolve_sent(session, args.ids)
    human = _text("resolved", n=len(done), ids=", ".join(map(str, done))) if done else _text("nothing")
    emit({"resolved": done}, as_json=args.json, human=human)
    return 0
