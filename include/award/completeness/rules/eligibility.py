"""Rules ``eligibility.*``: who may apply at all (a finding here is marked ineligible in the catalogue)."""

from __future__ import annotations

import unicodedata

from award.choices import is_excluded, quote
from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, phrase
from award.identity import validate_credit_code

# Provincial-level codes of mainland China (GB/T 2260), plus 10 for registrations by national authorities.
MAINLAND_PROVINCES = frozenset(
    "10 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()
)


def _city_matches(value: str, cities: list[str]) -> bool:
    v = unicodedata.normalize("NFKC", value).replace(" ", "")
    return any(v in (c, c.removesuffix("市")) or v.startswith(c) for c in cities)


def established_in_china(ctx: CheckContext) -> list[Finding]:
    out = []
    code = validate_credit_code(ctx.fields.get("credit_code", ""))
    if code.valid and code.normalized[2:4] not in MAINLAND_PROVINCES:
        out.append(Finding("not_mainland", {"code": code.normalized, "region": code.normalized[2:8]}))
    city = ctx.fields.get("city", "")
    cities = list(ctx.season.province.cities)
    if city and not _city_matches(city, cities):
        out.append(
            Finding("other_province", {"value": city, "province": ctx.season.province.name,
                                       "cities": phrase("list_joiner").join(cities)})
        )
    return out


def no_violation(ctx: CheckContext) -> list[Finding]:
    if "violations" in ctx.form.keys and ctx.fields.get("violations") == "有":
        return [Finding("declared", {"label": ctx.label("violations")})]
    return []


def defence_industry(ctx: CheckContext) -> list[Finding]:
    if "defence" in ctx.form.keys and ctx.fields.get("defence") == "是":
        return [Finding("defence", {"label": ctx.label("defence")})]
    return []


def other_channels(ctx: CheckContext) -> list[Finding]:
    if "other_channels" in ctx.form.keys and ctx.fields.get("other_channels") == "是":
        return [Finding("declared", {"label": ctx.label("other_channels")})]
    return []


def school_type(ctx: CheckContext) -> list[Finding]:
    """Only what the notice excludes is ineligible; a value that is no option is a correction (fields.required)."""
    value = ctx.fields.get("school_type", "")
    if value and is_excluded("school_type", value):
        return [Finding("not_allowed", {"value": value, "quote": quote("school_type"),
                                        "options": phrase("list_joiner").join(ctx.options("school_type"))})]
    return []


def individual_group(ctx: CheckContext) -> list[Finding]:
    value = ctx.fields.get("person_group", "")
    options = ctx.options("person_group") if "person_group" in ctx.form.keys else ()
    if not value or value in options:
        return []
    return [Finding("not_allowed", {"value": value, "options": phrase("list_joiner").join(options)})]

