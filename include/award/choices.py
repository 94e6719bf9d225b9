"""The notice's words for the choice fields: accepted options, synonyms normalised to them, and exclusions.

Data in ``choices.yaml`` beside the forms' ``forms.yaml`` (``award/forms/templates/``). A season may narrow a
category's options (``categories.<id>.choices.<field>``) but never offer a choice the notice excludes (:func:`season_choice_errors`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from award.config import Season

CHOICES_FILE = "choices.yaml"  # a template-folder name: award/forms/templates/choices.yaml


@lru_cache(maxsize=1)
def _data() -> dict[str, dict[str, Any]]:
    from award.templating import template_path  # noqa: PLC0415 - jinja2 stays off the parse path (award.config reads choices)

    path = template_path(CHOICES_FILE)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of field keys")
    return data


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def governed(key: str) -> bool:
    """Whether the notice's words govern this field's choices."""
    return key in _data()


def notice_options(key: str) -> tuple[str, ...]:
    """The notice's options for a field (empty for a field the notice does not govern)."""
    return tuple(_data().get(key, {}).get("options") or ())


def quote(key: str) -> str:
    """The notice's words the field's choices come from."""
    return str(_data().get(key, {}).get("quote") or "")


def normalize_choice(key: str, value: str) -> str:
    """The notice's word for ``value`` (a synonym normalised); other values come back stripped, unchanged."""
    spec = _data().get(key)
    flat = _flat(value)
    if not spec or not flat:
        return value.strip() if value else ""
    for option in spec.get("options") or ():
        if flat == _flat(option):
            return str(option)
    for synonym, option in (spec.get("synonyms") or {}).items():
        if flat == _flat(synonym):
            return str(option)
    return value.strip()


def is_excluded(key: str, value: str) -> bool:
    """Whether the notice excludes this value (e.g. 普通高中, 高等学校 for school_type)."""
    flat = _flat(value)
    return bool(flat) and any(flat == _flat(x) for x in _data().get(key, {}).get("excluded") or ())


def season_choice_errors(season: Season) -> list[str]:
    """``key: message`` for every season choice the notice excludes or does not know."""
    errors = []
    for cat_id, cat in season.categories.items():
        for key, options in cat.choices.items():
            where = f"categories.{cat_id}.choices.{key}"
            for option in options:
                if is_excluded(key, option):
                    errors.append(f"{where}: {option!r} is excluded by the notice ({quote(key)})")
                elif governed(key) and normalize_choice(key, option) not in notice_options(key):
                    errors.append(f"{where}: {option!r} is not one of the notice's options "
                                  f"({'、'.join(notice_options(key))})")
    return errors


def options_for(season: Season | None, category: str, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The options a category offers for a field: the season's narrowed list, else the form's."""
    if season is not None and category in season.categories:
        narrowed = season.categories[category].choices.get(key)
        if narrowed:
            return tuple(normalize_choice(key, o) for o in narrowed)
    return default
