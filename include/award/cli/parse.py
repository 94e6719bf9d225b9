"""`award parse FILE`: read a filled application form (.docx) and print its fields and problems."""

from __future__ import annotations

import argparse
from pathlib import Path

from award.cli.common import CliError, add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``award parse``."""
    p = sub.add_parser("parse", help="解析申报表 (.docx)：输出字段与问题 / parse an application form")
    p.add_argument("file", type=Path, help="the .docx form")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse the form; a corrupt or hostile file is a CliError (exit 2) naming the file and reason."""
    from award.forms import FormError, parse_form

    path: Path = args.file
    if not path.is_file():
        raise CliError("file not found", file=str(path))
    try:
        parsed = parse_form(path)
    except FormError as exc:
        raise CliError(exc.message, file=str(path), field=exc.field) from None
    data = {"file": str(path), **parsed.as_dict()}
    lines = [f"{path}: {parsed.form_id} ({parsed.category})"]
    lines += [f"  {k}: {v}" for k, v in parsed.fields.items()]
    lines += [f"  ! {p.label} ({p.field}): {p.message}" for p in parsed.problems] or ["  no problems"]
    emit(data, as_json=args.json, human="\n".join(lines))
    return 0
