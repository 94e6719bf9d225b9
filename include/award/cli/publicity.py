"""`award publicity objections` (what is open or unmatched) and `award publicity assign ID SUBMISSION_NO`."""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit, store_url
from award.enums import ObjectionStatus


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``publicity objections`` and ``publicity assign``."""
    p = sub.add_parser("publicity", help="公示异议 / publicity objections")
    actions = p.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("objections", help="list objections that are open or unmatched")
    add_json_flag(ls)
    ls.set_defaults(func=_list)
    a = actions.add_parser("assign", help="match an unmatched objection to an application")
    a.add_argument("objection_id", type=int)
    a.add_argument("submission_no", help="申报编号, e.g. GS-2023-0007")
    a.add_argument("--actor", required=True, help="who decides (recorded in the audit log)")
    add_json_flag(a)
    a.set_defaults(func=_assign)


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from award.store import session_scope
    from award.store.models import Application, Objection

    with session_scope(store_url()) as session:
        rows = session.scalars(select(Objection).where(Objection.status.in_((ObjectionStatus.OPEN, ObjectionStatus.UNMATCHED)))
                               .order_by(Objection.id)).all()
        out = []
        for o in rows:
            app = session.get(Application, o.application_id) if o.application_id else None
            out.append({"id": o.id, "status": o.status, "late": o.late, "window_id": o.window_id,
                        "submission_no": app.submission_no if app else None,
                        "received_at": o.received_at.isoformat()})
    human = "\n".join(f"{o['id']:>5} {o['status']:<10} {o['submission_no'] or '-':<14} {o['received_at']}"
                      + (" (逾期)" if o["late"] else "") for o in out) or "没有待处理的异议"
    emit({"objections": out}, as_json=args.json, human=human)
    return 0


def _assign(args: argparse.Namespace) -> int:
    from award.publicity import PublicityError, assign_objection
    from award.runtime import Runtime
    from award.store import session_scope

    store_url()  # no store: one line, exit 2, nothing created
    rt = Runtime.from_env()
    try:
        with session_scope(rt.db_url) as session:
            obj = assign_objection(session, rt, args.objection_id, args.submission_no, actor=args.actor)
            result = {"id": obj.id, "status": obj.status, "application_id": obj.application_id,
                      "window_id": obj.window_id, "late": obj.late}
    except PublicityError as exc:
        raise CliError(str(exc), field="objection_id" if "objection" in str(exc) else "submission_no") from None
    emit(result, as_json=args.json, human=f"异议 {result['id']} 已指定到 {args.submission_no}")
    return 0
