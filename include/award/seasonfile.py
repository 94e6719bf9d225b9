"""The season file as read, before validation: where it is, how it is loaded, and the few facts a DAG file needs.

DAG files are parsed every few seconds by the dag-processor, so they must not validate the whole season through
pydantic (``award.config``); they read only what their schedule and failure notice need (``parse_facts``), with
libyaml. Tasks load and validate the whole season (``award.config.load_season``), so a bad season still fails with a
message naming the key, in the first task that runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

TZ = ZoneInfo("Asia/Shanghai")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SEASON_FILE = PACKAGE_DIR / "seasons" / "cqa-5-2023.yaml"

# libyaml's loader when PyYAML was built with it (several times faster than the pure-Python one), same results.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with libyaml when available."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def season_path(path: str | Path | None = None) -> Path:
    """The season file: ``path``, else $AWARD_SEASON_FILE, else the shipped example season."""
    return Path(path or os.environ.get("AWARD_SEASON_FILE") or DEFAULT_SEASON_FILE)


@dataclass(frozen=True)
class AwardFacts:
    name: str
    edition: str


@dataclass(frozen=True)
class UnitFacts:
    email: str
    ops_email: str


@dataclass(frozen=True)
class DateFacts:
    application_open: date
    provincial_deadline: datetime
    national_deadline: datetime
    export_lead_workdays: int


@dataclass(frozen=True)
class ParseFacts:
    """What DAG files read at parse time, in the shape of ``award.config.Season`` (a subset, not validated)."""

    award: AwardFacts
    recommending_unit: UnitFacts
    dates: DateFacts
    calendar_overrides: tuple[str, ...]


def _get(data: Any, path: Path, dotted: str) -> Any:
    """The value at ``dotted`` (e.g. ``dates.application_open``) or a ValueError naming the file and the key."""
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"{path}: {dotted}: required key is missing")
        value = value[part]
    return value


def _aware(value: Any, path: Path, key: str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"{path}: {key}: not a date and time: {value!r}")
    return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)


def _date(value: Any, path: Path, key: str) -> date:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if not isinstance(value, date):
        raise ValueError(f"{path}: {key}: not a date: {value!r}")
    return value.date() if isinstance(value, datetime) else value


@lru_cache(maxsize=8)
def parse_facts(path: str | None = None) -> ParseFacts:
    """The parse-time facts of the season file (cached per process); a missing key raises ValueError naming it."""
    file = season_path(path)
    data = yaml_load(file.read_bytes())
    return ParseFacts(
        award=AwardFacts(name=str(_get(data, file, "award.name")), edition=str(_get(data, file, "award.edition"))),
        recommending_unit=UnitFacts(email=str(_get(data, file, "recommending_unit.email")),
                                    ops_email=str(_get(data, file, "recommending_unit.ops_email"))),
        dates=DateFacts(
            application_open=_date(_get(data, file, "dates.application_open"), file, "dates.application_open"),
            provincial_deadline=_aware(_get(data, file, "dates.provincial_deadline"), file,
                                       "dates.provincial_deadline"),
            national_deadline=_aware(_get(data, file, "dates.national_deadline"), file, "dates.national_deadline"),
            export_lead_workdays=int((data.get("dates") or {}).get("export_lead_workdays", 5)),
        ),
        calendar_overrides=tuple(str(p) for p in data.get("calendar_overrides") or ()),
    )
