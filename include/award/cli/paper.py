"""`award paper record|show|missing`: the bound paper copies (一式三份) and the USB stick of each application."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from award.cli.common import CliError, add_json_flag, emit, season_from, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``paper``."""
    p = sub.add_parser("paper", help="paper copies and USB stick received per application")
    p.add_argument("action", choices=["record", "show", "missing"])
    p.add_argument("application", nargs="?", help="submission number (GS-2023-0007) or application id")
    p.add_argument("--copies", type=int, help="bound paper copies now held (e.g. 3 for 一式三份)")
    p.add_argument("--usb", action="store_true", help="the USB stick (Word files) arrived")
    p.add_argument("--at", help="when it arrived (ISO date-time, Asia/Shanghai; default now)")
    p.add_argument("--actor", help="who records it (required for record)")
    p.add_argument("--note", help="a remark kept with the receipt")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped season)")
    add_json_flag(p)
    p.set_defaults(func=_paper)


def _paper(args: argparse.Namespace) -> int:
    from award.paper import PaperError, find_application, missing_on_paper, paper_state, record_receipt
    from award.store import session_scope

    season = season_from(args)
    if args.action != "missing" and not args.application:
        raise CliError(f"paper {args.action}: give the submission number", field="application")
    at = None
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise CliError(f"--at: {args.at!r} is not an ISO date-time (2023-05-24T10:30)", field="at") from None
    if args.action == "record" and not (args.actor or "").strip():
        raise CliError("paper record: --actor (who records it) is required", field="actor")
    url = store_url()
    data: Any
    try:
        with session_scope(url) as session:
            if args.action == "record":
                data = record_receipt(session, season, args.application, actor=args.actor, copies=args.copies,
                                      usb=args.usb, received_at=at, note=args.note).as_dict()
            elif args.action == "show":
                data = paper_state(season, find_application(session, season, args.application)).as_dict()
            else:
                data = {"season": season.season_id,
                        "applications": [s.as_dict() for s in missing_on_paper(session, season)]}
    except PaperError as exc:
        raise CliError(str(exc), field="application" if "no application" in str(exc) else None) from None
    emit(data, as_json=args.json)
    return 0
