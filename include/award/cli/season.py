"""`award season check FILE`: validate a season file (the error names the key)."""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``season check``."""
    p = sub.add_parser("season", help="season configuration")
    p.add_argument("action", choices=["check"])
    p.add_argument("file", nargs="?", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    add_json_flag(p)
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from award.config import SeasonConfigError, load_season

    try:
        season = load_season(args.file)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=args.file) from None
    warnings = season.season_warnings()
    human = "\n".join([f"{season.season_id}: OK", *(f"warning: {w}" for w in warnings)])
    emit({"valid": True, "season_id": season.season_id, "categories": list(season.categories),
          "warnings": warnings}, as_json=args.json, human=human)
    return 0
