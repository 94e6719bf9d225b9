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
_SECTION_NUMBER = re.compile(r"^(?:[一二三四五六七八九十]+[、.]|\([一二三四五六七八九十\d]+\)|\d+[、.](?!\d))")
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
    document: str = "申报表"  # what the notice calls the form: 申报表, or 推荐表 for individuals (附件5)

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
        """The form's title as the notice's annexes name them, e.g. 第五届中国质量奖（个人）推荐表."""
        return str(_raw()["title_template"].format(edition=edition_text(edition), suffix=self.suffix,
                                                   document=self.document))


def default_document() -> str:
    """What the notice calls a form unless the form says otherwise (``default_document`` in forms.yaml)."""
    return str(_raw()["default_document"])


def normalize_label(text: str) -> str:
    """Normalise a label for matching: NFKC (full-width -> half-width), no whitespace, colons or ``*``, casefold."""
    return _LABEL_JUNK.sub("", unicodedata.normalize("NFKC", text)).casefold()


def bare_label(norm: str) -> str:
    """A normalised label without its section number and parenthesised notes: ``三、主要事迹(盖章)`` -> ``主要事迹``."""
    return _PAREN.sub("", _SECTION_NUMBER.sub("", norm))


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
            document=raw.get("document") or _raw().get("default_document", "申报表"),
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


def document_for(category: str) -> str:
    """What the notice calls a category's form (申报表; 推荐表 for individuals), the default for an unknown one."""
    try:
        return form_for_category(category).document
    except KeyError:
        return default_document()


def declaration_text() -> tuple[str, str]:
    """The declaration paragraph and the signature line printed under the table."""
    return _raw()["declaration"], _raw()["signature_line"]


@lru_cache(maxsize=1)
def label_synonyms() -> dict[str, tuple[str, ...]]:
    """Field key -> other labels applicants' forms use for it (``label_synonyms`` in the spec), validated."""
    raw = _raw().get("label_synonyms") or {}
    if not isinstance(raw, dict):
        raise FormError("label_synonyms: expected a mapping of field key -> labels", file=str(SPEC_FILE))
    known = {f.key for spec in all_forms().values() for f in spec.fields}
    out: dict[str, tuple[str, ...]] = {}
    for key, labels in raw.items():
        if key not in known:
            raise FormError(f"label_synonyms.{key}: no form has a field {key!r}", file=str(SPEC_FILE))
        if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise FormError(f"label_synonyms.{key}: expected a list of labels", file=str(SPEC_FILE))
        out[key] = tuple(labels)
    return out


@lru_cache(maxsize=8)
def label_index(form_id: str) -> dict[str, str]:
    """Normalised label -> field key for one form: its labels, their synonyms, and both without parentheses.

    A label (or synonym) of the form's own fields wins over a synonym; a synonym that would name two fields
    of one form is a spec error naming both.
    """
    spec = form_spec(form_id)
    index = {normalize_label(f.label): f.key for f in spec.fields}
    synonyms = label_synonyms()
    extra: dict[str, set[str]] = {}
    for f in spec.fields:
        for label in (f.label, *synonyms.get(f.key, ())):
            norm = normalize_label(label)
            for variant in (norm, bare_label(norm)):
                if variant and variant not in index:
                    extra.setdefault(variant, set()).add(f.key)
    for variant, keys in extra.items():
        if len(keys) == 1:
            index[variant] = next(iter(keys))
        elif any(normalize_label(s) == variant for k in keys for s in synonyms.get(k, ())):
            raise FormError(f"label_synonyms: {variant!r} names several fields of {form_id}: "
                            f"{', '.join(sorted(keys))}", file=str(SPEC_FILE))
    return index


def lookup_label(form_id: str, norm: str) -> str | None:
    """The field key a normalised cell text labels in this form (also without its parenthesised notes)."""
    index = label_index(form_id)
    return index.get(norm) or index.get(bare_label(norm))


@lru_cache(maxsize=1)
def title_rules() -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """(title markers, ((form id, title words), ...)) from the spec, in matching order."""
    raw = _raw()
    markers = tuple(raw.get("title_markers") or ("申报表",))
    rules = []
    for i, rule in enumerate(raw.get("title_words") or ()):
        if not isinstance(rule, dict) or rule.get("form") not in all_forms() or not rule.get("words"):
            raise FormError(f"title_words[{i}]: needs form (one of {', '.join(FORM_IDS)}) and words",
                            file=str(SPEC_FILE))
        rules.append((str(rule["form"]), tuple(normalize_label(w) for w in rule["words"])))
    return markers, tuple(rules)


def form_by_title(text: str) -> FormSpec | None:
    """The form a title names by its category words (``中国质量奖（中小企业）申报表`` -> form3), or None."""
    norm = normalize_label(text)
    markers, rules = title_rules()
    if "中国质量奖" not in norm or not any(m in norm for m in markers):
        return None
    for spec in all_forms().values():  # our own titles first: 申报表（组织）
        if norm.endswith(normalize_label(f"申报表（{spec.suffix}）")):
            return spec
    for form_id, words in rules:
        if any(w in norm for w in words):
            return form_spec(form_id)
    return None


@lru_cache(maxsize=1)
def all_labels() -> frozenset[str]:
    """Every normalised label and synonym of every form (to recognise label cells of any form)."""
    return frozenset(lbl for fid in all_forms() for lbl in label_index(fid))


def is_label(norm: str) -> bool:
    """Whether a normalised cell text is a label of some form (also without its parenthesised notes)."""
    labels = all_labels()
    return bool(norm) and (norm in labels or bare_label(norm) in labels)


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
