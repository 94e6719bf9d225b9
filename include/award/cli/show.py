"""`award show SUBMISSION_NO [--json] [--show-pii]`: one application as the desk shows it.

The JSON form is the stable contract ``award.desk.SCHEMA`` (see award.desk.queries.application_view).
"""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit, season_from, store_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``show``."""
    p = sub.add_parser("show", help="one application: state, timeline, files, findings and mails")
    p.add_argument("submission_no", help="the submission number, e.g. GS-2023-0017")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    p.add_argument("--show-pii", action="store_true", help="print ID numbers and phones unmasked")
    add_json_flag(p)
    p.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    from award.desk import ApplicationNotFound, application_view
    from award.store import session_scope
    from award.templating import render

    url = store_url()
    season = season_from(args)
    try:
        with session_scope(url) as session:
            view = application_view(session, season, args.submission_no, show_pii=args.show_pii)
    except ApplicationNotFound as exc:
        raise CliError(str(exc), field="submission_no") from None
    emit(view, as_json=args.json, human=render("desk/show.txt.j2", v=view))
    return 0
