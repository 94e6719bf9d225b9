"""`award show SUBMISSION_NO [--json] [--show-pii]`: one application as the desk shows it.

The JSON form is the stable contract ``award.desk.SCHEMA`` (see award.desk.queries.application_view).
"""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``show``."""
    p = sub.add_parser("show", help="one application: state, timeline, files, findings and mails")
    p.add_argument("submission_no", help="the submission number, e.g. GS-2023-0017")
    p.add_argument("--season-file", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    p.add_argument("--show-pii", action="store_true", help="print ID numbers and phones unmasked")
    add_json_flag(p)
    p.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    from award.config import SeasonConfigError, load_season
    from award.desk import ApplicationNotFound, application_view
    from award.store import session_scope
    from award.store.db import StoreMissing, existing_url
    from award.templating import message, render

    try:
        url = existing_url()
    except StoreMissing as exc:
        raise CliError(message("cli", "status.no_store", where=exc.where)) from None
    try:
        season = load_season(args.season_file)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=args.season_file) from None
    try:
        with session_scope(url) as session:
            view = application_view(session, season, args.submission_no, show_pii=args.show_pii)
    except ApplicationNotFound as exc:
        raise CliError(str(exc), field="submission_no") from None
    emit(view, as_json=args.json, human=render("desk/show.txt.j2", v=view))
    return 0
