"""The five application forms as data: fields, labels and types, loaded from ``templates/forms.yaml``."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

SPEC_FILE = Path(__file__).resolve().parent / "templates" / "forms.yaml"
FORM_IDS = ("form1", "form2", "form3", "form4", "form5")
FieldType = Literal["text", "long_text", "credit_code", "id_number", "phone", "email", "date", "choice", "number"]
_FIELD_TYPES = set(FieldType.__args__)  # type: ignore[attr-defined]
_LABEL_JUNK = re.compile(r"[\s:*＊※★]+")
_PAREN = re.compile(r"\([^()]*\)")
_CN_NUMERALS = "零一二三四五六七八九十"


class FormError(ValueError):
    """A form file that cannot (or must not) be read; names the file and, if known, the field."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.message = message
        self.file = file
        self.field = field


@dataclass(frozen=True)
class FieldSpec:
    """One labelled field of a form."""

    key: str
    label: str
    type: FieldType
    required: bool
    options: tuple[str, ...] = ()
    pair_with_next: bool = False


@dataclass(frozen=True)
class FormSpec:
    """One of the five forms."""

    form_id: str
    category: str
    suffix: str
    name_field: str
    code_field: str
    fields: tuple[FieldSpec, ...]

    def field(self, key: str) -> FieldSpec:
        """Return the field with this key or raise KeyError naming it."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(f"{self.form_id} has no field {key!r}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    def title(self, edition: str = "第五届") -> str:
        """The form's title, e.g. 第五届中国质量奖申报表（组织）."""
        return _raw()["title_template"].format(edition=edition_text(edition), suffix=self.suffix)


def normalize_label(text: str) -> str:
    """Normalise a label for matching: NFKC, drop whitespace, colons and required-marks (``*``)."""
    return _LABEL_JUNK.sub("", unicodedata.normalize("NFKC", text))


def edition_text(edition: str | int) -> str:
    """``5`` / ``"5"`` / ``"五"`` / ``"第五届"`` -> ``"第五届"``."""
    text = str(edition).strip()
    if text.isdigit() and 0 < int(text) <= 10:
        text = _CN_NUMERALS[int(text)]
    if not text.startswith("第"):
        text = "第" + text
    return text if text.endswith("届") else text + "届"


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    data = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "forms" not in data:
        raise FormError("missing key 'forms'", file=str(SPEC_FILE))
    return data


def _flatten(items: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


@lru_cache(maxsize=1)
def all_forms() -> dict[str, FormSpec]:
    """Every form spec by form id (form1..form5), validated."""
    forms: dict[str, FormSpec] = {}
    for form_id, raw in _raw()["forms"].items():
        where = f"forms.{form_id}"
        fields: list[FieldSpec] = []
        for i, f in enumerate(_flatten(raw["fields"])):
            if f.get("type") not in _FIELD_TYPES:
                raise FormError(f"{where}.fields[{i}]: unknown type {f.get('type')!r}", file=str(SPEC_FILE))
            if f["type"] == "choice" and not f.get("options"):
                raise FormError(f"{where}.fields[{i}]: choice without options", file=str(SPEC_FILE))
            fields.append(
                FieldSpec(
                    key=f["key"],
                    label=f["label"],
                    type=f["type"],
                    required=bool(f.get("required", False)),
                    options=tuple(f.get("options") or ()),
                    pair_with_next=bool(f.get("pair_with_next", False)),
                )
            )
        keys = [f.key for f in fields]
        if len(set(keys)) != len(keys):
            raise FormError(f"{where}: duplicate field keys", file=str(SPEC_FILE))
        forms[form_id] = FormSpec(
            form_id=form_id,
            category=raw["category"],
            suffix=raw["suffix"],
            name_field=raw["name_field"],
            code_field=raw["code_field"],
            fields=tuple(fields),
        )
    return forms


def form_spec(form_id: str) -> FormSpec:
    """The spec of one form; raises KeyError naming an unknown form id."""
    try:
        return all_forms()[form_id]
    except KeyError:
        raise KeyError(f"unknown form id {form_id!r} (expected one of {', '.join(FORM_IDS)})") from None


def form_for_category(category: str) -> FormSpec:
    """The spec of the form used by a category id (organization, education, sme, team, individual)."""
    for spec in all_forms().values():
        if spec.category == category:
            return spec
    raise KeyError(f"unknown category {category!r}")


def declaration_text() -> tuple[str, str]:
    """The declaration paragraph and the signature line printed under the table."""
    return _raw()["declaration"], _raw()["signature_line"]


@lru_cache(maxsize=8)
def label_index(form_id: str) -> dict[str, str]:
    """Normalised label -> field key for one form (also without parenthesised parts, if unambiguous)."""
    spec = form_spec(form_id)
    index = {normalize_label(f.label): f.key for f in spec.fields}
    short: dict[str, list[str]] = {}
    for f in spec.fields:
        bare = _PAREN.sub("", normalize_label(f.label))
        if bare and bare not in index:
            short.setdefault(bare, []).append(f.key)
    index.update({k: v[0] for k, v in short.items() if len(v) == 1})
    return index


@lru_cache(maxsize=1)
def all_labels() -> frozenset[str]:
    """Every normalised label of every form (to recognise label cells of any form)."""
    return frozenset(lbl for fid in all_forms() for lbl in label_index(fid))


def applicant_name(form_id: str, fields: dict[str, str]) -> str:
    """The applicant's display name (organisation, team or person) from parsed fields."""
    return fields.get(form_spec(form_id).name_field, "")


def applicant_key(form_id: str, fields: dict[str, str]) -> str:
    """The applicant's identity key: credit code (team: ``code/team name``) or ID number."""
    spec = form_spec(form_id)
    code = fields.get(spec.code_field, "")
    if spec.category == "team":
        return f"{code}/{fields.get('team_name', '')}"
    return code
