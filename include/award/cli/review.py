"""`award review SUBMISSION_NO --actor NAME --note TEXT`: staff confirm an application waiting for review.

An application is ``needs_review`` when the check found what only staff can settle (a scanned PDF form, a
field the parser could not find). ``award show NO`` lists the findings; this records the staff member's
confirmation (audit log) and moves it to ``complete`` (``award.correction.confirm_review``).
"""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit, season_from, store_url


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``review``."""
    p = sub.add_parser("review", help="人工核对通过 / confirm an application waiting for staff review")
    p.add_argument("submission_no", help="the submission number, e.g. GS-2023-0017")
    p.add_argument("--actor", required=True, help="who reviewed (recorded in the audit log)")
    p.add_argument("--note", required=True, help="what was checked (recorded in the audit log)")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    add_json_flag(p)
    p.set_defaults(func=_review)


def _review(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from award.correction import ReviewError, confirm_review
    from award.store import session_scope
    from award.store.models import Application

    url = store_url()
    season = season_from(args)
    try:
        with session_scope(url) as session:
            app = session.scalar(select(Application).where(Application.season == season.season_id,
                                                           Application.submission_no == args.submission_no))
            if app is None:
                raise CliError(f"no application {args.submission_no} in {season.season_id}", field="submission_no")
            mailed = confirm_review(session, app, season, actor=args.actor, note=args.note)
            result = {"submission_no": app.submission_no, "state": app.state, "mail_queued": mailed}
    except ReviewError as exc:
        raise CliError(str(exc), field="submission_no") from None
    emit(result, as_json=args.json, human=f"{result['submission_no']}: {result['state']}")
    return 0
