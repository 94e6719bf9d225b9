"""`award demo generate` (synthetic applications with known defects), `award demo setup` (make run's demo), and the
demo season under make run: `award demo advance` (the demo clock), `award demo reply` (the counterparts) and
`award demo play` (the whole season, step by step)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from award.cli.common import CliError, add_json_flag, emit
from award.clock import DEMO_CLOCK_VAR

if TYPE_CHECKING:
    from award.demo.airflow_api import AirflowApi


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    a = actions.add_parser("advance", help="move the demo clock to the next milestone (make run only)")
    a.add_argument("--to", default=None, metavar="STAGE|DATE",
                   help="a stage (" + ", ".join(_stages()) + ") or an ISO date/datetime")
    a.add_argument("--no-run", action="store_true", help="only move the clock; trigger no DAG")
    a.add_argument("--root", type=Path, default=None, help="demo folder (default: make run's var/demo)")
    add_json_flag(a)
    a.set_defaults(func=run_advance)
    r = actions.add_parser("reply", help="the counterparts answer: departments, scores or objection (make run only)")
    r.add_argument("who", choices=["departments", "scores", "objection"])
    r.add_argument("--root", type=Path, default=None, help="demo folder (default: make run's var/demo)")
    add_json_flag(r)
    r.set_defaults(func=run_reply)
    pl = actions.add_parser("play", help="play the demo season to the national export (make run must be running)")
    pl.add_argument("--auto", action="store_true", help="answer the human decisions too (else: in the Airflow UI)")
    pl.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one run (default 900)")
    pl.add_argument("--root", type=Path, default=None, help="demo folder (default: make run's var/demo)")
    pl.set_defaults(func=run_play)


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


def _stages() -> tuple[str, ...]:
    from award.demo.milestones import STAGES

    return STAGES


def demo_environment(root: Path | None) -> Path:
    """Point the settings at make run's demo (``--root``, $AWARD_DATA_DIR, or var/demo) and turn its clock on."""
    from award.cli.environment import demo_root

    folder = root or (Path(os.environ["AWARD_DATA_DIR"]) if os.environ.get("AWARD_DATA_DIR") else demo_root())
    if folder is None or not (folder / "season.yaml").is_file():
        raise CliError("no demo season found: start make run first (or give --root)", field="root")
    folder = folder.resolve()
    os.environ["AWARD_DATA_DIR"] = str(folder)
    os.environ["AWARD_SEASON_FILE"] = str(folder / "season.yaml")
    os.environ.setdefault("AWARD_MAILDIR", str(folder / "maildir"))
    os.environ[DEMO_CLOCK_VAR] = str(folder / "clock.json")
    return folder


def _api(folder: Path) -> AirflowApi:
    """The make run api-server: the address and password file make run wrote to the demo folder."""
    import json

    from award.demo.airflow_api import AirflowApi

    env = dict(os.environ)
    where = folder / "airflow-api.json"
    if where.is_file():
        info = json.loads(where.read_text(encoding="utf-8"))
        env.setdefault("AIRFLOW__API__BASE_URL", info["base_url"])
        env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", info["passwords_file"])
    return AirflowApi.from_env(env)


def run_advance(args: argparse.Namespace) -> int:
    """Move the demo clock; trigger the DAGs that react."""
    from award.demo.milestones import MilestoneError
    from award.demo.play import advance
    from award.runtime import Runtime

    folder = demo_environment(args.root)
    try:
        result = advance(Runtime.from_env(), folder / "clock.json", args.to,
                         api=None if args.no_run else _api(folder), run=not args.no_run)
    except MilestoneError as exc:
        raise CliError(str(exc), field="to") from None
    from datetime import datetime

    from award.demo.play import texts

    said = texts()["messages"]
    at = datetime.fromisoformat(result["at"]).strftime("%Y-%m-%d %H:%M")
    human = "\n".join([said["advanced"].format(at=at, stage=result["stage"] or args.to).strip(), *(
        said["triggered"].format(dag_id=dag_id, run_id=run_id).strip() for dag_id, run_id in result["runs"])])
    emit(result, as_json=args.json, human=human)
    return 0


def run_reply(args: argparse.Namespace) -> int:
    """Let one kind of counterpart answer."""
    from award.demo import counterparts
    from award.demo.play import texts
    from award.runtime import Runtime
    from award.store import session_scope

    folder = demo_environment(args.root)
    rt = Runtime.from_env()
    maildir = Path(os.environ["AWARD_MAILDIR"])
    sent: list[str] = []
    if args.who == "scores":
        target = counterparts.agency_scores(rt)
        sent = [target] if target else []
    else:
        with session_scope(rt.db_url) as session:
            if args.who == "departments":
                sent = counterparts.department_replies(session, rt, maildir)
            else:
                no = counterparts.publicity_objection(session, rt, maildir)
                sent = [no] if no else []
    emit({"root": str(folder), "who": args.who, "sent": sent}, as_json=args.json,
         human="\n".join(sent) or texts()["messages"]["nothing_sent"].strip())
    return 0


def run_play(args: argparse.Namespace) -> int:
    """Play the demo season to the end."""
    from award.demo.play import Player, PlayError
    from award.runtime import Runtime

    folder = demo_environment(args.root)
    player = Player(Runtime.from_env(), _api(folder), folder / "clock.json", Path(os.environ["AWARD_MAILDIR"]),
                    auto=args.auto, timeout=args.timeout, out=lambda line: print(line, flush=True))
    try:
        player.play()
    except PlayError as exc:
        raise CliError(str(exc)) from None
    return 0
