"""`award demo generate` (synthetic applications with known defects) and `award demo setup` (make run's demo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``award demo``."""
    p = sub.add_parser("demo", help="演示数据 / synthetic demo data")
    actions = p.add_subparsers(dest="action", required=True)
    g = actions.add_parser("generate", help="generate synthetic applications (mail + city batches)")
    g.add_argument("--count", type=int, required=True, help="number of submissions")
    g.add_argument("--seed", type=int, required=True, help="random seed (same seed -> identical files)")
    g.add_argument("--out", type=Path, required=True, help="output directory")
    g.add_argument("--season", type=Path, default=None, help="season file (default: the shipped example)")
    g.add_argument("--defects", type=float, default=0.2, help="share of submissions with a defect (0..1)")
    g.add_argument(
        "--channels", default="mail,city", help="comma-separated channels: mail, city (default: both)"
    )
    add_json_flag(g)
    g.set_defaults(func=run_generate)
    s = actions.add_parser("setup", help="the demo season for make run: dates around today, mail and city batches")
    s.add_argument("--root", type=Path, required=True, help="demo folder (season.yaml, maildir/, shared/)")
    s.add_argument("--count", type=int, default=40, help="number of submissions (default 40)")
    s.add_argument("--seed", type=int, default=2023)
    s.add_argument("--reset", action="store_true", help="start the demo again from scratch")
    add_json_flag(s)
    s.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    """Create (or keep) the demo season and print where it is."""
    from award.calendar import UnknownYearError
    from award.demo.setup import setup_demo

    try:
        result = setup_demo(args.root, count=args.count, seed=args.seed, reset=args.reset)
    except UnknownYearError as exc:
        raise CliError(str(exc), field="today") from None
    human = (f"demo season {result.get('season_id', '')} ready: {result['season_file']}"
             if result["created"] else f"demo season kept: {result['season_file']} (--reset to start again)")
    emit(result, as_json=args.json, human=human)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    """Generate and print a summary (counts per category, channel and defect)."""
    from award.config import SeasonConfigError, load_season
    from award.demo import generate

    if args.count < 0:
        raise CliError("--count must be >= 0", field="count")
    if not 0.0 <= args.defects <= 1.0:
        raise CliError("--defects must be between 0 and 1", field="defects")
    channels = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    if not channels or set(channels) - {"mail", "city"}:
        raise CliError("--channels must list mail and/or city", field="channels")
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError("output directory exists and is not empty", file=str(out))
    try:
        season = load_season(args.season)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=str(args.season) if args.season else None) from None
    result = generate(out, args.count, args.seed, season=season, defect_share=args.defects, channels=channels)
    summary = result.summary()
    human = "\n".join(
        [
            f"wrote {summary['count']} submissions to {out} (manifest: {result.manifest_path})",
            "by category: " + ", ".join(f"{k}={v}" for k, v in summary["by_category"].items()),
            "by channel: " + ", ".join(f"{k}={v}" for k, v in summary["by_channel"].items()),
            "by defect: " + (", ".join(f"{k}={v}" for k, v in summary["by_defect"].items()) or "none"),
        ]
    )
    emit(summary, as_json=args.json, human=human)
    return 0
