"""`award calendar`: Chinese working-day arithmetic (add-workdays, is-workday, window)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from award.cli.common import CliError, add_json_flag, emit

if TYPE_CHECKING:  # the calendar (its holiday data) is loaded only by the calendar commands
    from award.calendar import WorkCalendar

T = TypeVar("T")


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CliError(f"{field}: not a valid date (expected YYYY-MM-DD): {value!r}", field=field) from None


def _parse_time(value: str, field: str) -> time:
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        raise CliError(f"{field}: not a valid time (expected HH:MM): {value!r}", field=field) from None
    if parsed.tzinfo is not None:
        raise CliError(f"{field}: give a local Asia/Shanghai time without offset: {value!r}", field=field)
    return parsed


def _parse_n(value: str, field: str = "N") -> int:
    try:
        n = int(value)
    except ValueError:
        raise CliError(f"{field}: not an integer: {value!r}", field=field) from None
    if n < 1:
        raise CliError(f"{field}: must be >= 1, got {n}", field=field)
    return n


def _calendar(args: argparse.Namespace) -> WorkCalendar:
    from award.calendar import CalendarOverrideError, WorkCalendar, env_override_paths

    try:
        return WorkCalendar([*env_override_paths(), *(Path(p) for p in args.overrides or ())])
    except CalendarOverrideError as exc:
        raise CliError(str(exc), field="overrides") from None


def _guard(func: Callable[[], T], field: str) -> T:
    """Turn calendar errors (unknown year) into the CLI's exit-2 error."""
    from award.calendar import UnknownYearError

    try:
        return func()
    except UnknownYearError as exc:
        raise CliError(str(exc), field=field) from None


def _add_workdays(args: argparse.Namespace) -> int:
    start = _parse_date(args.date, "DATE")
    n = _parse_n(args.n)
    cal = _calendar(args)
    end = _guard(lambda: cal.add_workdays(start, n), "DATE")
    data = {"start": start.isoformat(), "n": n, "end": end.isoformat()}
    emit(data, as_json=args.json, human=f"{start.isoformat()} 起第 {n} 个工作日：{end.isoformat()}")
    return 0


def _is_workday(args: argparse.Namespace) -> int:
    day = _parse_date(args.date, "DATE")
    cal = _calendar(args)
    info = _guard(lambda: cal.day_info(day), "DATE")
    data = {"date": day.isoformat(), "workday": info.workday, "reason": info.reason}
    verdict = "工作日" if info.workday else "非工作日"
    emit(data, as_json=args.json, human=f"{day.isoformat()}：{verdict}（{info.reason}）")
    return 0


def _window(args: argparse.Namespace) -> int:
    start = _parse_date(args.start, "START")
    n = _parse_n(args.n)
    at = _parse_time(args.at, "at")
    cutoff = _parse_time(args.cutoff, "cutoff")
    cal = _calendar(args)
    win = _guard(lambda: cal.window(datetime.combine(start, at), n, cutoff=cutoff), "START")
    data: dict[str, Any] = {
        "opened_at": win.opened_at.isoformat(),
        "start": win.start.isoformat(),
        "end": win.end.isoformat(),
        "end_at": win.end_at.isoformat(),
        "workdays": [d.isoformat() for d in win.workdays],
    }
    human = (
        f"{win.opened_at:%Y-%m-%d %H:%M} 开始，{n} 个工作日："
        f"{win.start.isoformat()} 至 {win.end.isoformat()}（{'、'.join(d.isoformat() for d in win.workdays)}）"
    )
    emit(data, as_json=args.json, human=human)
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    parser.add_argument(
        "--overrides",
        action="append",
        metavar="PATH",
        help="extra calendar override file or folder (repeatable; $AWARD_CALENDAR_OVERRIDES also applies)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``award calendar`` and its sub-commands."""
    parser = sub.add_parser("calendar", help="中国工作日计算 / Chinese working-day calendar")
    cmds = parser.add_subparsers(dest="calendar_command", required=True)

    p = cmds.add_parser("add-workdays", help="the N-th working day counting DATE as day 1 if it is one")
    p.add_argument("date", metavar="DATE", help="YYYY-MM-DD")
    p.add_argument("n", metavar="N", help="number of working days (>= 1)")
    _add_common(p)
    p.set_defaults(func=_add_workdays)

    p = cmds.add_parser("is-workday", help="whether DATE is a working day, and why")
    p.add_argument("date", metavar="DATE", help="YYYY-MM-DD")
    _add_common(p)
    p.set_defaults(func=_is_workday)

    p = cmds.add_parser("window", help="a window of N working days opened on START")
    p.add_argument("start", metavar="START", help="opening date YYYY-MM-DD")
    p.add_argument("n", metavar="N", help="number of working days (>= 1)")
    p.add_argument("--at", default="09:00", help="opening time HH:MM, Asia/Shanghai (default 09:00)")
    p.add_argument("--cutoff", default="12:00", help="the opening day counts if opened before HH:MM (default 12:00)")
    _add_common(p)
    p.set_defaults(func=_window)
