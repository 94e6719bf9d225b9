"""The one clock of the domain: aware Asia/Shanghai time, overridable for demos and tests."""

from __future__ import annotations

import os
from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """Current time in Asia/Shanghai (``AWARD_FAKE_NOW`` = ISO datetime freezes it, for tests and demos)."""
    fake = os.environ.get("AWARD_FAKE_NOW")
    if fake:
        value = datetime.fromisoformat(fake)
        return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)
    return datetime.now(TZ)
