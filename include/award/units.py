"""Which recommending unit (推荐单位) an application came through, from the season's list.

A city batch (``incoming/<folder>/``) names its unit by the folder (a city, a unit name or an alias); an e-mailed
application names it on the form (推荐单位, or the older 推荐市州 field).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from award.config import LocalUnit, Season
    from award.store.models import Application

FORM_KEYS = ("recommending_unit", "channel_city", "city")


def unit_for(season: Season, app: Application | Any) -> LocalUnit | None:
    """The application's recommending unit, or None when nothing names a known one."""
    if getattr(app, "channel", None) == "city" or "city" in (getattr(app, "channels", None) or []):
        unit = season.find_unit(getattr(app, "city", None))
        if unit is not None:
            return unit
    fields = getattr(app, "fields", None) or {}
    for key in FORM_KEYS:
        unit = season.find_unit(str(fields.get(key) or ""))
        if unit is not None:
            return unit
    applicant = getattr(app, "applicant", None)
    return season.find_unit(getattr(app, "city", None) or getattr(applicant, "city", None))


def unit_for_fields(season: Season, fields: dict[str, Any], folder: str | None = None) -> LocalUnit | None:
    """The recommending unit named by a city folder or a form's fields (for ``award check``)."""
    unit = season.find_unit(folder) if folder else None
    if unit is not None:
        return unit
    for key in FORM_KEYS:
        unit = season.find_unit(str(fields.get(key) or ""))
        if unit is not None:
            return unit
    return None
