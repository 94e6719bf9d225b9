"""Rules ``fields.*``: required fields filled in, choices among the options, typed values (codes, numbers, dates)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

from award.choices import is_excluded
from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, phrase
from award.identity import (
    id_birth_date,
    parse_date,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_phone,
)

_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_OWN_CHOICE_RULES = {"school_type": "eligibility.school_type", "person_group": "eligibility.individual_group"}


def _own_rule_reports(ctx: CheckContext, key: str, value: str) -> bool:
    """Whether a choice value is reported by the field's own eligibility rule (selected for the category)."""
    rule = _OWN_CHOICE_RULES.get(key)
    if rule is None or rule not in ctx.season.category(ctx.category).rules:
        return False
    return key == "person_group" or is_excluded(key, value)


def required(ctx: CheckContext) -> list[Finding]:
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
                                   "options": phrase("list_joiner").join(ctx.options(fs.key))})
            )
        elif fs.type == "number" and not _NUMBER.match(unicodedata.normalize("NFKC", value).replace(",", "")):
            out.append(Finding("number", {"key": fs.key, "label": fs.label, "value": value}))
    return out


def typed(validate: Callable[[str], Any], field_type: str, *, show_value: bool) -> Callable[[CheckContext], list[Any]]:
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


def id_number(ctx: CheckContext) -> list[Finding]:
    out = typed(validate_id_number, "id_number", show_value=False)(ctx)
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


def dates(ctx: CheckContext) -> list[Finding]:
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



credit_code = typed(validate_credit_code, "credit_code", show_value=True)
phone = typed(validate_phone, "phone", show_value=False)
email = typed(validate_email, "email", show_value=True)
