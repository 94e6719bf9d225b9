"""Shared helpers for the ``award`` sub-commands: JSON output and the exit-2 error contract."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from award.config import Season


class CliError(Exception):
    """A bad input: printed as a JSON error (with --json) and exit code 2; nothing is written."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.file is not None:
            out["file"] = self.file
        if self.field is not None:
            out["field"] = self.field
        return out


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Give a sub-command the ``--json`` flag."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def emit(data: Any, *, as_json: bool, human: str | None = None) -> None:
    """Print a result: JSON when asked, otherwise the human text (or pretty JSON)."""
    if as_json or human is None:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=None if as_json else 2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(human.rstrip("\n") + "\n")


def emit_error(exc: CliError, *, as_json: bool) -> None:
    """Print an error in the contract's shape."""
    if as_json:
        json.dump(exc.as_dict(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        where = f" ({exc.file}{': ' + exc.field if exc.field else ''})" if exc.file else ""
        sys.stderr.write(f"award: error{where}: {exc.message}\n")


def store_url() -> str:
    """The existing domain store's URL; none there is a CliError saying where (and nothing is created)."""
    from award.store.db import StoreMissing, existing_url
    from award.templating import message

    try:
        return existing_url()
    except StoreMissing as exc:
        raise CliError(message("cli", "status.no_store", where=exc.where)) from None


def season_from(args: argparse.Namespace) -> Season:
    """The season of ``--season-file`` (default $AWARD_SEASON_FILE or the shipped one); a bad file names itself."""
    from award.config import SeasonConfigError, load_season

    path = getattr(args, "season_file", None)
    try:
        return load_season(path)
    except SeasonConfigError as exc:
        raise CliError(str(exc), file=path) from None
