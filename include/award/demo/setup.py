"""The demo season for ``make run``: the shipped (Gansu 2023) season with its dates moved around today and every
e-mail address on an example domain (``.example``, RFC 2606: ``make run`` can never mail a real office), and
generated applications delivered to the local mailbox (Maildir) and the local shared-storage folder.

Safe to call again: an existing demo is kept unless ``reset`` is given.
"""

from __future__ import annotations

import json
import mailbox
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import yaml

from award.calendar import UnknownYearError, WorkCalendar, default_calendar
from award.clock import TZ, now, write_demo_clock
from award.config import DEFAULT_SEASON_FILE, parse_season
from award.demo.generator import generate
from award.process import stage_plan
from award.seasonfile import yaml_load


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo lives."""

    root: Path

    @property
    def season_file(self) -> Path:
        return self.root / "season.yaml"

    @property
    def maildir(self) -> Path:
        return self.root / "maildir"

    @property
    def shared(self) -> Path:
        return self.root / "shared"

    @property
    def generated(self) -> Path:
        return self.root / "generated"

    @property
    def clock_file(self) -> Path:
        """The demo clock (``AWARD_DEMO_CLOCK``: read only when that variable names it)."""
        return self.root / "clock.json"


EXAMPLE_TLD = "example"


def example_address(address: str) -> str:
    """The same mailbox on an example domain: ``zgzlj@samr.gov.cn`` -> ``zgzlj@samr.example``."""
    local, _, domain = address.partition("@")
    if domain.endswith("." + EXAMPLE_TLD):
        return address
    return f"{local}@{domain.split('.')[0]}.{EXAMPLE_TLD}"


def _example_addresses(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _example_addresses(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_example_addresses(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        return example_address(value)
    return value


ASSUMPTION_FILE = Path(__file__).resolve().parent / "calendar_assumption.yaml"
DEMO_YEARS_AHEAD = 1  # the demo season may run into the next year


def demo_calendar_overrides(folder: Path, today: date) -> list[str]:
    """Write the demo's stand-in schedule (calendar_assumption.yaml) for each year from ``today``'s on that the
    working-day calendar does not know; returns the files written (empty when the calendar knows every year).

    Only the demo uses them (its season file names them): production still refuses an unknown year."""
    known = set(WorkCalendar().known_years())
    assumption = yaml_load(ASSUMPTION_FILE.read_text(encoding="utf-8"))
    written = []
    for year in range(today.year, today.year + DEMO_YEARS_AHEAD + 1):
        if year in known:
            continue
        holidays = {f"{year}-{md}": name for md, name in assumption["holidays"].items()}
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"demo-{year}.yaml"
        path.write_text(yaml.safe_dump({year: {"complete": True, "source": assumption["source"],
                                               "holidays": holidays, "workdays": {}}},
                                       allow_unicode=True, sort_keys=False), encoding="utf-8")
        written.append(str(path))
    return written


def demo_season_data(today: date, calendar_overrides: list[str] | None = None) -> dict[str, Any]:
    """The shipped season with dates placed around ``today`` (all on the working-day calendar).

    Every e-mail address moves to an example domain; recommending units without a contact get example ones.

    The province runs the first round (征求意见 and 公示) itself. Applications open two weeks ago; the provincial
    deadline is the 6th working day from today at 17:00; the national deadline is 20 working days after that, with the export due 5 working days before it. Near the end
    of the years the working-day calendar knows, the national deadline comes earlier (never before the season's
    stages, ``process.stages``, can end) and the export lead shrinks; if even that does not fit, the year the
    calendar does not know is an error.
    """
    data: dict[str, Any] = yaml_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    # the province consults the departments and runs the first publicity itself, so that the demo season plays
    # every stage (award demo play): the departments' replies, the publicity objections, the scores
    data["process"]["first_round"] = "province"
    cal = default_calendar(tuple(calendar_overrides or ()))
    stage_days = sum(days for _, days in stage_plan(parse_season(data, DEFAULT_SEASON_FILE)))
    national: date | None = None
    lead = 5
    try:
        provincial = cal.add_workdays(today, 6)
        for n in range(stage_days + lead + 5, stage_days + 1, -1):
            try:
                national = cal.workdays_after(provincial, n)
            except UnknownYearError:
                if n == stage_days + 2:
                    raise
                continue
            lead = min(lead, n - stage_days - 1)
            break
    except UnknownYearError as exc:
        error = UnknownYearError(exc.year)
        error.args = (f"the demo season around {today} reaches a year the working-day calendar does not know: {exc}",)
        raise error from None
    assert national is not None
    data = _example_addresses(data)
    for i, unit in enumerate(data.get("recommending_units") or [], start=1):
        unit.setdefault("contact", "示例联系人")
        unit.setdefault("phone", f"0000-{8000000 + i}")
        unit.setdefault("email", f"{unit['id']}@units.{EXAMPLE_TLD}")
        unit.setdefault("address", f"{unit.get('city') or unit['name']}示例路{i}号")
    data["season_id"] = f"demo-{today.year}"
    data["award"]["edition"] = "第五届（演示）"
    unit = data["recommending_unit"]  # the letters' numbers carry the demo year: 〔2026〕
    unit["doc_prefix"] = unit["doc_prefix"].replace("〔2023〕", f"〔{today.year}〕")
    # the demo can never mail a real office, but its national mail needs a mobile in the subject: an example one
    data["national"]["contact_mobile"] = "13900000000"
    data["dates"] = {
        "application_open": (today - timedelta(days=14)).isoformat(),
        "provincial_deadline": datetime.combine(provincial, time(17, 0), TZ).isoformat(),
        "national_deadline": datetime.combine(national, time(17, 0), TZ).isoformat(),
        "export_lead_workdays": lead,
    }
    if calendar_overrides:  # the demo's stand-in schedule for a year the calendar does not know
        data["calendar_overrides"] = [*(data.get("calendar_overrides") or []), *calendar_overrides]
    return data


def build_message(meta: dict[str, Any], folder: Path, when: datetime) -> bytes:
    """An applicant's e-mail as a Chinese mail client sends it: Chinese subject, body and file names."""
    msg = EmailMessage()
    msg["From"] = formataddr((meta.get("from_name") or "", meta["from"]))
    msg["To"] = meta["to"]
    msg["Subject"] = meta["subject"]
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = meta["message_id"]
    msg.set_content("您好：\n\n附件是我单位的申报材料，请查收。\n\n此致\n敬礼\n", charset="utf-8")
    for name in meta["attachments"]:
        data = (folder / name).read_bytes()
        maintype, subtype = ("application", "pdf") if name.lower().endswith(".pdf") else (
            "application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def deliver(generated: Path, maildir: Path, shared: Path, *, when: datetime | None = None) -> dict[str, int]:
    """Put generated mail into the ``office`` Maildir and city batches under ``incoming/`` in shared storage."""
    when = when or now()
    maildir.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(maildir / "office", create=True)
    mailbox.Maildir(maildir / "objections", create=True)
    mails = 0
    for meta_file in sorted((generated / "mail").glob("*/meta.json")):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        box.add(build_message(meta, meta_file.parent, when))
        mails += 1
    files = 0
    city_root = generated / "city"
    if city_root.exists():
        for path in sorted(city_root.rglob("*")):
            if path.is_file():
                target = shared / "incoming" / path.relative_to(city_root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                files += 1
    return {"mails": mails, "city_files": files}


def setup_demo(root: Path, *, count: int = 40, seed: int = 2023, today: date | None = None,
               reset: bool = False) -> dict[str, Any]:
    """Create (or keep) the demo season under ``root``; returns what was done."""
    paths = DemoPaths(Path(root))
    if paths.season_file.exists() and not reset:
        return {"created": False, "season_file": str(paths.season_file)}
    if reset and paths.root.exists():
        for sub in ("maildir", "shared", "generated", "blobs", "calendar"):
            shutil.rmtree(paths.root / sub, ignore_errors=True)
        (paths.root / "award.db").unlink(missing_ok=True)
        paths.clock_file.unlink(missing_ok=True)
    paths.root.mkdir(parents=True, exist_ok=True)
    day = today or now().date()
    data = demo_season_data(day, demo_calendar_overrides(paths.root / "calendar", day))
    season = parse_season(data, paths.season_file)
    result = generate(paths.generated, count, seed, season=season, defect_share=0.25)
    delivered = deliver(paths.generated, paths.maildir, paths.shared)
    # the demo clock starts at today's time (award demo advance moves it)
    write_demo_clock(paths.clock_file, now() if today is None else datetime.combine(day, time(10, 0), TZ))
    paths.season_file.write_text(
        "# Demo season written by `award demo setup` (make run): the shipped season moved around today,\n"
        "# every e-mail address on an example domain.\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return {"created": True, "season_file": str(paths.season_file), "season_id": season.season_id,
            "dates": data["dates"], "generated": result.summary(), **delivered}
