"""`award season check FILE`: validate a season file (the error names the key)."""

from __future__ import annotations

import argparse

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``season check``."""
    p = sub.add_parser("season", help="season configuration")
    p.add_argument("action", choices=["check"])
    p.add_argument("file", nargs="?", help="season YAML (default $AWARD_SEASON_FILE or the shipped example)")
    add_json_flag(p)
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from award.calendar import UnknownYearError
    from award.config import SeasonConfigError, load_season
    from award.process import simulate

    try:
        season = load_season(args.file)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=args.file) from None
    where = args.file or "season"
    try:
        sim = simulate(season)
    except UnknownYearError as exc:
        raise CliError(f"{where}: dates: the working-day calendar cannot simulate the stages: {exc}",
                       file=args.file, field="dates") from None
    if not sim.fits:
        steps = ", ".join(f"{s.id} {s.workdays}d {s.start:%m-%d}..{s.end:%m-%d}" for s in sim.stages)
        raise CliError(
            f"{where}: process.stages: the province's stages cannot end before the export is due: an application "
            f"completed on {sim.completed} ends {sim.stages[-1].id if sim.stages else 'the last stage'} on "
            f"{sim.end}, but the export is due {sim.export_due:%Y-%m-%d %H:%M} "
            f"(dates.export_lead_workdays {season.dates.export_lead_workdays} working days before "
            f"dates.national_deadline {sim.national_deadline:%Y-%m-%d}); stages: {steps}. Shorten process.stages, "
            f"move dates.provincial_deadline earlier, or let the recommending units run the first round "
            f"(process.first_round: recommending_unit).", file=args.file, field="process.stages")
    warnings = season.season_warnings()
    human = "\n".join([f"{season.season_id}: OK",
                       *(f"  {s.id:<20} {s.workdays:>2} {s.start} .. {s.end}" for s in sim.stages),
                       f"  export due {sim.export_due:%Y-%m-%d %H:%M}",
                       *(f"warning: {w}" for w in warnings)])
    emit({"valid": True, "season_id": season.season_id, "categories": list(season.categories),
          "first_round": season.process.first_round, "unit_opinion": season.process.unit_opinion,
          "simulation": sim.as_dict(), "warnings": warnings}, as_json=args.json, human=human)
    return 0
