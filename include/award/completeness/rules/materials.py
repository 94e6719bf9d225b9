"""Rules ``materials.*``: the materials the season requires, the unit's opinion, the recommending unit's opinion."""

from __future__ import annotations

from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, material_label
from award.units import unit_for

SPECIAL_MATERIALS = ("unit_opinion", "city_recommendation")


def required(ctx: CheckContext) -> list[Finding]:
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


def unit_opinion(ctx: CheckContext) -> list[Finding]:
    reason = is_branch(ctx)
    if reason is None or ctx.materials.get("unit_opinion"):
        return []
    if reason == "branch":
        return [Finding("branch", {"parent": ctx.fields.get("parent_unit", "")})]
    return [Finding("missing", {"reason": reason})]


def unit_name(ctx: CheckContext) -> str:
    """The name of the application's recommending unit (else its city)."""
    unit = unit_for(ctx.season, ctx.application)
    return unit.name if unit is not None else (ctx.application.city or ctx.fields.get("channel_city") or "")


def city_recommendation(ctx: CheckContext) -> list[Finding]:
    """The recommending unit's 审核推荐意见: for city uploads, or for every application when the season says so."""
    every = ctx.season.process.unit_opinion == "every_application"
    if ctx.materials.get("city_recommendation") or not (every or "city" in ctx.channels):
        return []
    return [Finding("missing", {"unit": unit_name(ctx)})]

