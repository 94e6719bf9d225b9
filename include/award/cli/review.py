"""`award review SUBMISSION_NO --actor NAME (--note TEXT | --key CODE [--join])`: staff settle a review.

An application is ``needs_review`` when the check found what only staff can settle (a scanned PDF form, a
field the parser could not find). ``award show NO`` lists the findings; ``--note`` records the staff member's
confirmation (audit log) and moves it to ``complete`` (``award.completeness.correction.confirm_review``).

An application whose form had no readable key (credit code / ID number) is registered under a stand-in key;
``--key CODE`` enters the key staff read on the form (validated, audited), and ``--join`` merges the application
into the season's application that already has this key (``award.intake.keyentry.enter_key``). The next completeness
run checks it.
"""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit, season_from, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``review``."""
    p = sub.add_parser("review", help="人工核对 / staff review: confirm an application, or enter its key")
    p.add_argument("submission_no", help="the submission number, e.g. GS-2023-0017")
    p.add_argument("--actor", required=True, help="who reviewed (recorded in the audit log)")
    p.add_argument("--note", help="what was checked (recorded in the audit log); confirms the review")
    p.add_argument("--key", help="统一社会信用代码或身份证号码 read on the form, for an application whose key was not read")
    p.add_argument("--join", action="store_true",
                   help="with --key: merge into the season's application that already has this key")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    add_json_flag(p)
    p.set_defaults(func=_review)


def _review(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from award.completeness import ReviewError, confirm_review
    from award.intake.keyentry import KeyEntryError, enter_key
    from award.store import session_scope
    from award.store.models import Application

    if args.key is None and args.note is None:
        raise CliError("give --note (confirm the review) or --key (enter the applicant's key)", field="note")
    if args.join and args.key is None:
        raise CliError("--join needs --key", field="join")
    url = store_url()
    season = season_from(args)
    result: dict[str, object]
    try:
        with session_scope(url) as session:
            app = session.scalar(select(Application).where(Application.season == season.season_id,
                                                           Application.submission_no == args.submission_no))
            if app is None:
                raise CliError(f"no application {args.submission_no} in {season.season_id}", field="submission_no")
            if args.key is not None:
                result = dict(enter_key(session, app, code=args.key, actor=args.actor, join=args.join).as_dict())
            else:
                mailed = confirm_review(session, app, season, actor=args.actor, note=args.note)
                result = {"submission_no": app.submission_no, "state": app.state, "mail_queued": mailed}
    except KeyEntryError as exc:
        raise CliError(str(exc), field="key") from None
    except ReviewError as exc:
        raise CliError(str(exc), field="submission_no") from None
    human = f"{result['submission_no']}: {result['state']}"
    if result.get("joined"):
        human += f" -> {result['joined']}"
    emit(result, as_json=args.json, human=human)
    return 0
