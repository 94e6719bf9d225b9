"""The ``award`` command: one sub-command module per concern, each exposing ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from award.cli.common import CliError, emit_error
from award.cli.environment import discover

# Each module listed here lives in award/cli/<name>.py and defines register(subparsers).
COMMAND_MODULES = ("parse", "validate", "calendar", "status", "demo", "mail", "season", "forms", "publicity", "show",
                   "withdraw", "intake", "outbox", "blobs", "review", "paper", "check")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="award", description="中国质量奖推荐工作流水线 / CQA nomination pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"award.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``award`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    discover()
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        emit_error(exc, as_json=getattr(args, "json", False))
        return 2


if __name__ == "__main__":
    sys.exit(main())
