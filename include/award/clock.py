"""The one clock of the domain: aware Asia/Shanghai time, overridable for demos and tests.

Order: the demo clock, ``AWARD_FAKE_NOW``, the wall clock.

* **The demo clock** (``make run`` only): ``scripts/run.sh`` and the ``award`` CLI set ``AWARD_DEMO_CLOCK`` to the
  path of the demo's ``clock.json`` (``{"now": "<ISO datetime>"}``); ``award demo advance`` moves it to the season's
  next milestone. The file is read only when that variable is set: the production path never reads a clock file,
  wherever one lies.
* ``AWARD_FAKE_NOW`` = ISO datetime freezes the clock, for tests.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
DEMO_CLOCK_VAR = "AWARD_DEMO_CLOCK"


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)


def demo_clock_path() -> Path | None:
    """The demo clock file, when the demo clock is on (``AWARD_DEMO_CLOCK`` set), else None."""
    path = os.environ.get(DEMO_CLOCK_VAR, "").strip()
    return Path(path) if path else None


def read_demo_clock(path: Path) -> datetime | None:
    """The time stored in a demo clock file (None when the file is missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _aware(datetime.fromisoformat(str(data["now"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_demo_clock(path: Path, value: datetime) -> None:
    """Set the demo clock (atomically: a task reading it never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"now": _aware(value).isoformat()}), encoding="utf-8")
    tmp.replace(path)


def demo_now() -> datetime | None:
    """The demo clock's time, when the demo clock is on and set."""
    path = demo_clock_path()
    return read_demo_clock(path) if path is not None else None


def now() -> datetime:
    """Current time in Asia/Shanghai: the demo clock (under ``make run``), ``AWARD_FAKE_NOW``, or the wall clock."""
    demo = demo_now()
    if demo is not None:
        return demo
    fake = os.environ.get("AWARD_FAKE_NOW")
    if fake:
        return _aware(datetime.fromisoformat(fake))
    return datetime.now(TZ)
