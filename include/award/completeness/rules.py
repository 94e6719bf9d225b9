"""Completeness and eligibility rules (形式审查): data plus small functions.

Each rule has an id, the categories it applies to, a severity (``blocking`` or ``warning``) and a function that
looks at one application (:class:`CheckContext`) and returns :class:`Finding` s (an empty list: passed). The
applicant-facing Chinese text of every finding lives in ``templates/checks/messages.yaml`` (Jinja2, details
filled in); a finding kind marked ``ineligible: true`` there makes the application ineligible (no correction can
fix it), one marked ``severity: warning`` is only a note. The season file chooses which rule ids run for each
category (``categories.<id>.rules``); :func:`evaluate` runs them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal

import yaml

from award.identity import (
    id_birth_date,
    mask_id_number,
    mask_phone,
    normalize,
    parse_date,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_phone,
)
from award.templating import template_path

if TYPE_CHECKING:
    from award.calendar import WorkCalendar
    from award.config import Season
    from award.forms.spec import FormSpec
    from award.store.models import Application, Material

Severity = Literal["blocking", "warning", "review"]
ALL_CATEGORIES = frozenset({"organization", "education", "sme", "team", "individual"})
MESSAGES_FILE = template_path("checks/messages.yaml")

# Provincial-level codes of mainland China (GB/T 2260), plus 10 for registrations by national authorities.
MAINLAND_PROVINCES = frozenset(
    "10 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()
)
_PROOF_DATE = r"(\d{4}\s*(?:年\s*\d{1,2}\s*月\s*\d{1,2}\s*日?|[-./]\s*\d{1,2}\s*[-./]\s*\d{1,2}))"
_PROOF_START = re.compile(r"公示开始日期\s*[:：]\s*" + _PROOF_DATE)
_PROOF_END = re.compile(r"公示结束日期\s*[:：]\s*" + _PROOF_DATE)
_PROOF_SPAN = re.compile(r"于?\s*" + _PROOF_DATE + r"\s*(?:至|到|—|–|-|~)\s*" + _PROOF_DATE)


class RuleError(ValueError):
    """A rule or its message data is wrong (a programming/configuration error, named)."""


@dataclass(frozen=True)
class Finding:
    """A problem a rule found: its kind (key in messages.yaml) and the details for the message."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """A rendered finding: what the applicant reads and how it counts."""

    rule_id: str
    kind: str
    severity: Severity
    ineligible: bool
    message: str
    fix: str
    details: dict[str, Any]

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "kind": self.kind, "severity": self.severity, "ineligible": self.ineligible,
            "message": self.message, "fix": self.fix,
        }


@dataclass(frozen=True)
class Rule:
    """One rule: id, categories it applies to, default severity and the check function."""

    id: str
    categories: frozenset[str]
    severity: Severity
    check: Callable[[CheckContext], list[Finding]]

    @property
    def title(self) -> str:
        return str(_rule_messages(self.id)["title"])

    def applies_to(self, category: str) -> bool:
        return category in self.categories

    def run(self, ctx: CheckContext) -> list[Result]:
        """Run the check and render each finding's message and fix."""
        out = []
        kinds = _rule_messages(self.id)["findings"]
        named = _form_word(ctx.form.document)
        for finding in self.check(ctx):
            spec = kinds.get(finding.kind)
            if spec is None:
                raise RuleError(f"{MESSAGES_FILE}: rules.{self.id}.findings: no text for kind {finding.kind!r}")
            severity = spec.get("severity", self.severity)
            out.append(
                Result(
                    rule_id=self.id,
                    kind=finding.kind,
                    severity=severity,
                    ineligible=bool(spec.get("ineligible", False)),
                    message=named(_render(spec["text"], finding.params)),
                    fix=named(_render(spec["fix"], finding.params)),
                    details={"kind": finding.kind, **_jsonable(finding.params)},
                )
            )
        return out


# --------------------------------------------------------------------------- messages


@lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    """The message data file (validated: every rule in RULES has a title and findings)."""
    data = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "rules" not in data or "material_labels" not in data:
        raise RuleError(f"{MESSAGES_FILE}: expected keys 'rules' and 'material_labels'")
    return data


def _rule_messages(rule_id: str) -> dict[str, Any]:
    try:
        spec: dict[str, Any] = messages()["rules"][rule_id]
    except KeyError:
        raise RuleError(f"{MESSAGES_FILE}: rules.{rule_id}: missing") from None
    if "title" not in spec or "findings" not in spec:
        raise RuleError(f"{MESSAGES_FILE}: rules.{rule_id}: needs 'title' and 'findings'")
    return spec


def material_label(kind: str) -> str:
    """The Chinese name of a material kind."""
    return str(messages()["material_labels"].get(kind, kind))


def _form_word(document: str) -> Callable[[str], str]:
    """The check texts call the applicant's form by the default word (申报表); a form the notice names otherwise
    (附件5, the individuals' 推荐表) is called by its own word in what its applicant is told."""
    from award.forms.spec import default_document

    default = default_document()
    return (lambda text: text) if document == default else (lambda text: text.replace(default, document))


def _render(text: str, params: dict[str, Any]) -> str:
    from award.templating import render_text

    return render_text(text, **params).strip()


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}


# --------------------------------------------------------------------------- context


@dataclass
class CheckContext:
    """What the rules see of one application: its fields, current materials and the season."""

    application: Application
    season: Season
    calendar: WorkCalendar
    load_blob: Callable[[str], bytes]
    today: date

    @cached_property
    def category(self) -> str:
        return self.application.category

    @cached_property
    def form(self) -> FormSpec:
        from award.forms.spec import form_for_category

        return form_for_category(self.category)

    @cached_property
    def fields(self) -> dict[str, str]:
        """The form's fields, stripped, with choice synonyms normalised to the notice's words (初级中学 -> 初中)."""
        from award.choices import normalize_choice

        return {k: normalize_choice(k, "" if v is None else str(v)) for k, v in (self.application.fields or {}).items()}

    def options(self, key: str) -> tuple[str, ...]:
        """The options a choice field accepts for this category (the season may narrow the form's)."""
        from award.choices import options_for

        return options_for(self.season, self.category, key, self.form.field(key).options)

    @cached_property
    def materials(self) -> dict[str, list[Material]]:
        """Current (not superseded) materials by kind, newest last."""
        out: dict[str, list[Material]] = {}
        for m in sorted(self.application.materials, key=lambda m: (m.received_at, m.id)):
            if m.superseded_by_id is None:
                out.setdefault(m.kind, []).append(m)
        return out

    def latest(self, kind: str) -> Material | None:
        items = self.materials.get(kind)
        return items[-1] if items else None

    @cached_property
    def channels(self) -> set[str]:
        return {self.application.channel, *(self.application.channels or [])}

    def label(self, key: str) -> str:
        return self.form.field(key).label

    @cached_property
    def form_missing(self) -> frozenset[str]:
        """Keys of the fields whose label the parser did not find in the current Word form (read again)."""
        from award.forms import FormError, parse_form

        docx = self.latest("form_docx")
        if docx is None:
            return frozenset()
        try:
            parsed = parse_form(self.load_blob(docx.sha256), filename=docx.filename)
        except FormError:
            return frozenset()
        return frozenset(parsed.missing) if parsed.category == self.category else frozenset()

    @cached_property
    def pending_key_fields(self) -> frozenset[str]:
        """The key fields (credit code or ID number, a team's name) of an application registered under a stand-in
        key: blank, they go to staff review, never to a correction demand."""
        from award.intake.keyentry import is_pending

        applicant = self.application.applicant
        if applicant is None or not is_pending(applicant.key):
            return frozenset()
        keys = {self.form.code_field} | ({"team_name"} if self.category == "team" else set())
        return frozenset(keys)

    def keys_of_type(self, *types: str) -> list[str]:
        return [f.key for f in self.form.fields if f.type in types]


# --------------------------------------------------------------------------- rules: materials


SPECIAL_MATERIALS = ("unit_opinion", "city_recommendation")


def _materials_required(ctx: CheckContext) -> list[Finding]:
    required = ctx.season.category(ctx.category).required_materials
    return [
        Finding("missing", {"kind": kind, "label": material_label(kind)})
        for kind in required
        if kind not in SPECIAL_MATERIALS and not ctx.materials.get(kind)
    ]


def is_branch(ctx: CheckContext) -> str | None:
    """Why the applicant needs its unit's opinion (a branch or a person), or None."""
    if ctx.category == "team":
        return ctx.season.category(ctx.category).label
    if ctx.category == "individual" or ctx.season.category(ctx.category).group == "individual":
        return ctx.season.category(ctx.category).label
    if ctx.fields.get("branch") == "是" or "分支机构" in ctx.fields.get("org_nature", ""):
        return "branch"
    if "unit_opinion" in ctx.season.category(ctx.category).required_materials:
        return ctx.season.category(ctx.category).label
    return None


def _materials_unit_opinion(ctx: CheckContext) -> list[Finding]:
    reason = is_branch(ctx)
    if reason is None or ctx.materials.get("unit_opinion"):
        return []
    if reason == "branch":
        return [Finding("branch", {"parent": ctx.fields.get("parent_unit", "")})]
    return [Finding("missing", {"reason": reason})]


def _unit_name(ctx: CheckContext) -> str:
    from award.units import unit_for

    unit = unit_for(ctx.season, ctx.application)
    return unit.name if unit is not None else (ctx.application.city or ctx.fields.get("channel_city") or "")


def _materials_city_recommendation(ctx: CheckContext) -> list[Finding]:
    """The recommending unit's 审核推荐意见: for city uploads, or for every application when the season says so."""
    every = ctx.season.process.unit_opinion == "every_application"
    if ctx.materials.get("city_recommendation") or not (every or "city" in ctx.channels):
        return []
    return [Finding("missing", {"unit": _unit_name(ctx)})]


# --------------------------------------------------------------------------- rules: fields


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_OWN_CHOICE_RULES = {"school_type": "eligibility.school_type", "person_group": "eligibility.individual_group"}


def _own_rule_reports(ctx: CheckContext, key: str, value: str) -> bool:
    """Whether a choice value is reported by the field's own eligibility rule (selected for the category)."""
    from award.choices import is_excluded

    rule = _OWN_CHOICE_RULES.get(key)
    if rule is None or rule not in ctx.season.category(ctx.category).rules:
        return False
    return key == "person_group" or is_excluded(key, value)


def _fields_required(ctx: CheckContext) -> list[Finding]:
    """Required fields are filled in; one whose label is not in the form at all goes to staff review."""
    out = []
    for fs in ctx.form.fields:
        value = ctx.fields.get(fs.key, "")
        if value and fs.key == ctx.form.code_field and fs.key in ctx.pending_key_fields:
            # a later form brought the key: staff still enter it (award review --key), it is not taken silently
            out.append(Finding("key_pending", {"key": fs.key, "label": fs.label}))
            continue
        if not value:
            if fs.required:
                kind = "not_found" if fs.key in ctx.form_missing else "empty"
                if kind == "empty" and fs.key in ctx.pending_key_fields:
                    kind = "unread"  # the key of a stand-in application: staff enter it (award.intake.keyentry)
                out.append(Finding(kind, {"key": fs.key, "label": fs.label}))
        elif fs.type == "choice" and value not in ctx.options(fs.key):
            if _own_rule_reports(ctx, fs.key, value):
                continue  # the eligibility rule of this field says what is wrong, in the notice's words
            out.append(
                Finding("choice", {"key": fs.key, "label": fs.label, "value": value,
                                   "options": "、".join(ctx.options(fs.key))})
            )
        elif fs.type == "number" and not _NUMBER.match(unicodedata.normalize("NFKC", value).replace(",", "")):
            out.append(Finding("number", {"key": fs.key, "label": fs.label, "value": value}))
    return out


def _typed(validate: Callable[[str], Any], field_type: str, *, show_value: bool) -> Callable[[CheckContext], list[Any]]:
    def check(ctx: CheckContext) -> list[Finding]:
        out = []
        for key in ctx.keys_of_type(field_type):
            value = ctx.fields.get(key, "")
            if not value:
                continue  # fields.required reports empty required fields
            v = validate(value)
            if not v.valid:
                params = {"key": key, "label": ctx.label(key), "reason": (v.reason or "").rstrip("。")}
                if show_value:
                    params["value"] = value
                out.append(Finding("invalid", params))
        return out

    return check


def _fields_id_number(ctx: CheckContext) -> list[Finding]:
    out = _typed(validate_id_number, "id_number", show_value=False)(ctx)
    for key in ctx.keys_of_type("id_number"):
        birth = id_birth_date(ctx.fields.get(key, ""))
        raw = ctx.fields.get("birth_date", "")
        if birth is None or not raw or "birth_date" not in ctx.form.keys:
            continue
        try:
            stated = parse_date(raw)
        except ValueError:
            continue  # fields.dates reports it
        if stated != birth:
            out.append(Finding("birth_mismatch", {"key": "birth_date", "birth_date": stated}))
    return out


def _fields_dates(ctx: CheckContext) -> list[Finding]:
    out = []
    parsed: dict[str, date] = {}
    for key in ctx.keys_of_type("date"):
        value = ctx.fields.get(key, "")
        if not value:
            continue
        params = {"key": key, "label": ctx.label(key), "value": value}
        try:
            d = parse_date(value)
        except ValueError:
            out.append(Finding("invalid", params))
            continue
        parsed[key] = d
        if key in ("founded", "birth_date") and d > ctx.today:
            out.append(Finding("future", params))
    start, end = parsed.get("publicity_start"), parsed.get("publicity_end")
    if start and end and end < start:
        out.append(Finding("order", {"start": start, "end": end}))
    return out


# --------------------------------------------------------------------------- rules: eligibility


def _city_matches(value: str, cities: list[str]) -> bool:
    v = unicodedata.normalize("NFKC", value).replace(" ", "")
    return any(v in (c, c.removesuffix("市")) or v.startswith(c) for c in cities)


def _established_in_china(ctx: CheckContext) -> list[Finding]:
    out = []
    code = validate_credit_code(ctx.fields.get("credit_code", ""))
    if code.valid and code.normalized[2:4] not in MAINLAND_PROVINCES:
        out.append(Finding("not_mainland", {"code": code.normalized, "region": code.normalized[2:8]}))
    city = ctx.fields.get("city", "")
    cities = list(ctx.season.province.cities)
    if city and not _city_matches(city, cities):
        out.append(
            Finding("other_province", {"value": city, "province": ctx.season.province.name, "cities": "、".join(cities)})
        )
    return out


def _no_violation(ctx: CheckContext) -> list[Finding]:
    if "violations" in ctx.form.keys and ctx.fields.get("violations") == "有":
        return [Finding("declared", {"label": ctx.label("violations")})]
    return []


def _defence_industry(ctx: CheckContext) -> list[Finding]:
    if "defence" in ctx.form.keys and ctx.fields.get("defence") == "是":
        return [Finding("defence", {"label": ctx.label("defence")})]
    return []


def _other_channels(ctx: CheckContext) -> list[Finding]:
    if "other_channels" in ctx.form.keys and ctx.fields.get("other_channels") == "是":
        return [Finding("declared", {"label": ctx.label("other_channels")})]
    return []


def _school_type(ctx: CheckContext) -> list[Finding]:
    """Only what the notice excludes is ineligible; a value that is no option is a correction (fields.required)."""
    from award.choices import is_excluded, quote

    value = ctx.fields.get("school_type", "")
    if value and is_excluded("school_type", value):
        return [Finding("not_allowed", {"value": value, "quote": quote("school_type"),
                                        "options": "、".join(ctx.options("school_type"))})]
    return []


def _individual_group(ctx: CheckContext) -> list[Finding]:
    value = ctx.fields.get("person_group", "")
    options = ctx.options("person_group") if "person_group" in ctx.form.keys else ()
    if not value or value in options:
        return []
    return [Finding("not_allowed", {"value": value, "options": "、".join(options)})]


# --------------------------------------------------------------------------- rules: publicity, consistency


def proof_dates(text: str) -> tuple[date, date] | None:
    """The publicity start and end dates stated in an internal-publicity proof's text, or None."""
    flat = re.sub(r"\s+", "", text)
    start, end = _PROOF_START.search(flat), _PROOF_END.search(flat)
    try:
        if start and end:
            return parse_date(start.group(1)), parse_date(end.group(1))
        span = _PROOF_SPAN.search(flat)
        if span:
            return parse_date(span.group(1)), parse_date(span.group(2))
    except ValueError:
        return None
    return None


def _publicity_min_workdays(ctx: CheckContext) -> list[Finding]:
    from award.calendar import UnknownYearError
    from award.forms import FormError
    from award.forms.pdf import pdf_text

    n = ctx.season.publicity.min_workdays
    spans: list[tuple[str, date, date]] = []
    out: list[Finding] = []
    form_span: tuple[date, date] | None = None
    try:
        form_span = (parse_date(ctx.fields["publicity_start"]), parse_date(ctx.fields["publicity_end"]))
    except (KeyError, ValueError):
        pass  # fields.required / fields.dates report it
    proof = ctx.latest("publicity_proof")
    if proof is not None:
        source = f"内部公示情况说明（{proof.filename}）"
        try:
            found = proof_dates(pdf_text(ctx.load_blob(proof.sha256), name=proof.filename))
        except FormError:
            found = None  # a .docx or scanned proof: fall back to the form's dates, staff look at the file
            if form_span is None:
                out.append(Finding("unreadable", {"source": source}))
        if found is not None:
            spans.append((source, *found))
            if form_span is not None and found != form_span:
                out.append(
                    Finding("mismatch", {"proof_start": found[0], "proof_end": found[1],
                                         "form_start": form_span[0], "form_end": form_span[1]})
                )
        elif form_span is None and not out:
            out.append(Finding("unreadable", {"source": source}))
    if form_span is not None and not spans:
        spans.append(("申报表", *form_span))
    for source, start, end in spans:
        try:
            workdays = ctx.calendar.count_workdays(start, end) if end >= start else 0
        except UnknownYearError:
            out.append(Finding("calendar_unknown", {"start": start, "end": end}))
            continue
        if workdays < n:
            out.append(Finding("too_short", {"start": start, "end": end, "workdays": workdays, "min_workdays": n,
                                             "source": source}))
    return out


_SENTENCE_END = re.compile(r"[。；;！!]")
_ANY_DATE = re.compile(_PROOF_DATE)


@dataclass(frozen=True)
class OpinionStatements:
    """What a recommending unit's 审核推荐意见 states about its own consultation and publicity."""

    consulted: bool
    consultation_dated: bool
    publicity: tuple[date, date] | None
    publicity_mentioned: bool


def opinion_statements(text: str) -> OpinionStatements:
    """Read the consultation (征求…意见, with a date) and the publicity (公示, start and end) out of the text."""
    flat = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    consulted = dated = mentioned = False
    span: tuple[date, date] | None = None
    for sentence in _SENTENCE_END.split(flat):
        if re.search(r"征求.{0,60}?意见", sentence):
            consulted = True
            dated = dated or bool(_ANY_DATE.search(sentence))
        if "公示" in sentence:
            mentioned = True
            found = proof_dates(sentence)
            if found is not None and span is None:
                span = found
    if span is None and mentioned:
        span = proof_dates(flat)
    return OpinionStatements(consulted, dated, span, mentioned)


def _recommender_opinion(ctx: CheckContext) -> list[Finding]:
    """Where the recommending unit ran 征求意见 and 公示, its 审核推荐意见 must say so, with dates (>= N workdays)."""
    from award.calendar import UnknownYearError
    from award.forms import FormError
    from award.forms.pdf import pdf_text
    from award.units import unit_for

    unit = unit_for(ctx.season, ctx.application)
    if ctx.season.first_round_for(unit.id if unit else None) != "recommending_unit":
        return []
    letter = ctx.latest("city_recommendation")
    if letter is None:
        return []  # materials.city_recommendation reports a missing opinion
    params: dict[str, Any] = {"filename": letter.filename, "unit": unit.name if unit else _unit_name(ctx),
                              "min_workdays": ctx.season.publicity.min_workdays}
    try:
        said = opinion_statements(pdf_text(ctx.load_blob(letter.sha256), name=letter.filename))
    except FormError:
        return [Finding("unreadable", params)]
    out = []
    if not said.consulted:
        out.append(Finding("no_consultation", params))
    elif not said.consultation_dated:
        out.append(Finding("consultation_undated", params))
    if said.publicity is None:
        out.append(Finding("no_publicity", params))
    else:
        start, end = said.publicity
        try:
            workdays = ctx.calendar.count_workdays(start, end) if end >= start else 0
        except UnknownYearError:
            return [*out, Finding("calendar_unknown", {**params, "start": start, "end": end})]
        if workdays < ctx.season.publicity.min_workdays:
            out.append(Finding("publicity_too_short", {**params, "start": start, "end": end, "workdays": workdays}))
    return out


def _same_text(a: str, b: str) -> bool:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", a)) == re.sub(r"\s+", "", unicodedata.normalize("NFKC", b))


def consistency_keys(spec: FormSpec) -> list[str]:
    """The fields the Word and PDF forms must agree on: name, credit code or ID number, contact and phone."""
    keys = [spec.name_field, spec.code_field, *(k for k in ("contact",) if k in spec.keys)]
    keys += [f.key for f in spec.fields if f.type == "phone"]
    return list(dict.fromkeys(keys))


def _comparable(ftype: str, value: str) -> str:
    if ftype in ("credit_code", "id_number"):
        return normalize(value)
    if ftype == "phone":
        return re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)).casefold()


def _shown(ftype: str, value: str) -> str:
    """A value as a finding may show it: ID numbers and phones masked."""
    if not value:
        return ""
    if ftype == "id_number":
        return mask_id_number(value)
    if ftype == "phone":
        return mask_phone(value)
    return value


def _consistency_form_pdf(ctx: CheckContext) -> list[Finding]:
    """The PDF form says what the Word form says (key fields); a scan without text goes to staff review.

    The PDF is read as applicants make it (``award.forms.pdf.read_pdf_form``). A key field agrees when the
    PDF's value under its label matches the Word value, or, when the label was not found in the PDF, when the
    Word value is printed somewhere in it. ID numbers and phones are masked in the finding.
    """
    from award.forms import FormError
    from award.forms.pdf import read_pdf_form

    pdf = ctx.latest("form_pdf")
    if pdf is None:
        return []  # materials.required reports it
    try:
        read = read_pdf_form(ctx.load_blob(pdf.sha256), name=pdf.filename)
    except FormError as exc:
        return [Finding("unreadable", {"filename": pdf.filename, "reason": exc.message})]
    if not read.text_layer:
        return [Finding("no_text_layer", {"filename": pdf.filename})]
    spec = ctx.form
    if read.category is not None and read.category != ctx.category:
        return [Finding("not_a_form", {"filename": pdf.filename})]
    out = []
    printed_fields = read.fields
    for key in consistency_keys(spec):
        word = ctx.fields.get(key, "")
        if not word:
            continue  # fields.required reports it
        ftype = spec.field(key).type
        printed = printed_fields.get(key, "")
        if printed and _comparable(ftype, printed) == _comparable(ftype, word):
            continue
        if not printed and read.contains(word):
            continue  # the label was not found in the PDF, but the value is printed in it
        if read.form is None and not any(read.contains(ctx.fields.get(k, "")) for k in consistency_keys(spec)):
            return [Finding("not_a_form", {"filename": pdf.filename})]
        out.append(Finding("differs", {"key": key, "label": spec.field(key).label, "word": _shown(ftype, word),
                                       "pdf": _shown(ftype, printed) or "（未找到）"}))
    return out


# --------------------------------------------------------------------------- registry


def _rule(rule_id: str, check: Callable[[CheckContext], list[Finding]], categories: frozenset[str] = ALL_CATEGORIES,
          severity: Severity = "blocking") -> Rule:
    return Rule(rule_id, categories, severity, check)


_ORGS = frozenset({"organization", "education", "sme", "team"})

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _rule("materials.required", _materials_required),
        _rule("materials.unit_opinion", _materials_unit_opinion),
        _rule("materials.city_recommendation", _materials_city_recommendation),
        _rule("fields.required", _fields_required),
        _rule("fields.credit_code", _typed(validate_credit_code, "credit_code", show_value=True)),
        _rule("fields.id_number", _fields_id_number, frozenset({"individual"})),
        _rule("fields.phone", _typed(validate_phone, "phone", show_value=False)),
        _rule("fields.email", _typed(validate_email, "email", show_value=True)),
        _rule("fields.dates", _fields_dates),
        _rule("recommender.opinion", _recommender_opinion),
        _rule("eligibility.established_in_china", _established_in_china, _ORGS),
        _rule("eligibility.no_violation", _no_violation, _ORGS),
        _rule("eligibility.individual_conduct", _no_violation, frozenset({"individual"})),
        _rule("eligibility.defence_industry", _defence_industry),
        _rule("eligibility.other_channels", _other_channels),
        _rule("eligibility.school_type", _school_type, frozenset({"education"})),
        _rule("eligibility.individual_group", _individual_group, frozenset({"individual"})),
        _rule("publicity.min_workdays", _publicity_min_workdays),
        _rule("consistency.form_pdf", _consistency_form_pdf),
    )
}


def rules_for(season: Season, category: str) -> list[Rule]:
    """The rules the season selects for a category (in the season file's order), that apply to it."""
    ids = season.category(category).rules
    unknown = [i for i in ids if i not in RULES]
    if unknown:
        raise RuleError(f"categories.{category}.rules: unknown rule id {unknown[0]!r}")
    return [RULES[i] for i in ids if RULES[i].applies_to(category)]


@dataclass(frozen=True)
class Evaluation:
    """All results of one application's check, and what they add up to."""

    results: list[Result]
    passed_rules: list[str]

    @property
    def blocking(self) -> list[Result]:
        return [r for r in self.results if r.blocking]

    @property
    def warnings(self) -> list[Result]:
        return [r for r in self.results if not r.blocking]

    @property
    def reviews(self) -> list[Result]:
        """Findings that staff must look at before the application can pass (not the applicant's to fix)."""
        return [r for r in self.results if r.severity == "review"]

    @property
    def outcome(self) -> Literal["complete", "incomplete", "ineligible", "review"]:
        if any(r.ineligible and r.blocking for r in self.results):
            return "ineligible"
        if self.blocking:
            return "incomplete"
        return "review" if self.reviews else "complete"


def evaluate(ctx: CheckContext, rules: list[Rule] | None = None) -> Evaluation:
    """Run the season's rules for the application's category (or ``rules``)."""
    results: list[Result] = []
    passed: list[str] = []
    for rule in rules if rules is not None else rules_for(ctx.season, ctx.category):
        found = rule.run(ctx)
        results.extend(found)
        if not any(r.blocking for r in found):
            passed.append(rule.id)
    return Evaluation(results, passed)
