"""Material kinds by file name: the keyword rules of ``templates/intake/rules.yaml`` and what they decide."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from award.completeness.rules import material_label
from award.intake.filetypes import extension
from award.seasonfile import yaml_load
from award.templating import template_path

RULES_FILE = template_path("intake/rules.yaml")
# kinds an application has one current version of: a newer file supersedes the older (both kept)
SINGLE_KINDS = frozenset({"form_docx", "form_pdf", "publicity_proof", "unit_opinion", "city_recommendation"})
WORD_OLD = frozenset({".doc", ".wps", ".rtf", ".odt"})  # converted with LibreOffice before a form is parsed
WORD_OLD_TYPES = ("doc", "rtf", "odt")  # the same, by sniffed content


@lru_cache(maxsize=1)
def rules() -> dict[str, Any]:
    """The classification rules (keywords and labels) from ``templates/intake/rules.yaml``."""
    data: dict[str, Any] = yaml_load(RULES_FILE.read_text(encoding="utf-8"))
    return data


def kind_by_name(filename: str) -> str | None:
    """Material kind suggested by the file name (``form`` for a form of either format), or None."""
    stem = PurePosixPath(filename).name
    for rule in rules()["kind_keywords"]:
        if any(word in stem for word in rule["words"]):
            return str(rule["kind"])
    return None


def is_city_letter(filename: str) -> bool:
    """A city's recommendation letter (by name; .pdf/.docx/.doc/.ofd/.jpg...)."""
    return any(word in PurePosixPath(filename).name for word in rules()["city_letter_words"])


def is_old_word(name: str, real: str) -> bool:
    """A Word file in an old or foreign format (.doc, .wps, .rtf, .odt): a form in it is converted first."""
    return extension(name) in WORD_OLD or real in WORD_OLD_TYPES


def needs_data(name: str, real: str) -> bool:
    """Whether ``classify`` reads a file's bytes (a possible form, an unnamed PDF, a Word file to convert)."""
    by_name = kind_by_name(name)
    if real == "docx":
        return by_name in (None, "form")
    if real == "pdf":
        return by_name is None
    if is_old_word(name, real):
        return by_name in (None, "form")
    return False


def channel_label(channel: str) -> str:
    """The Chinese name of a channel (``channel_labels`` in the rules), else the channel itself."""
    return str(rules()["channel_labels"].get(channel, channel))


def kind_label(kind: str) -> str:
    """The Chinese name of a material kind (the completeness rules' labels)."""
    return material_label(kind)
