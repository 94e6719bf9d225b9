"""`award forms templates OUT_DIR`: the five blank application forms (.docx) the office publishes."""

from __future__ import annotations

import argparse
from pathlib import Path

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``forms templates``."""
    p = sub.add_parser("forms", help="the five application forms")
    p.add_argument("action", choices=["templates"])
    p.add_argument("out", type=Path, help="folder for the blank forms")
    p.add_argument("--season-file", help="season YAML (for the edition in the titles)")
    add_json_flag(p)
    p.set_defaults(func=_templates)


def _templates(args: argparse.Namespace) -> int:
    from award.config import SeasonConfigError, load_season
    from award.forms import FORM_IDS, build_form_template, form_spec

    try:
        season = load_season(args.season_file)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=args.season_file) from None
    if args.out.exists() and not args.out.is_dir():
        raise CliError("not a folder", file=str(args.out))
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, form_id in enumerate(FORM_IDS, start=1):
        title = form_spec(form_id).title(season.award.edition)
        path = args.out / f"附件{number}-{title.replace('/', '、')}.docx"
        build_form_template(form_id, path, edition=season.award.edition)
        written.append({"form_id": form_id, "title": title, "file": str(path)})
    emit({"forms": written}, as_json=args.json, human="\n".join(w["file"] for w in written))
    return 0
