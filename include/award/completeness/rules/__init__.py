"""Completeness and eligibility rules (形式审查): data plus small functions, one module per rule-id prefix.

Each rule has an id, the categories it applies to, a severity (``blocking`` or ``warning``) and a function that
looks at one application (:class:`CheckContext`) and returns :class:`Finding` s (an empty list: passed). The
applicant-facing Chinese text of every finding lives in the stage's catalogue ``completeness/messages.yaml``
(group ``rules``; Jinja2, details filled in); a finding kind marked ``ineligible: true`` there makes the
application ineligible (no correction can fix it), one marked ``severity: warning`` is only a note. The season
file chooses which rule ids run for each category (``categories.<id>.rules``); :func:`evaluate` runs them.

This module is the registry (:data:`RULES`); the rules live in ``materials``, ``fields``, ``recommender``,
``eligibility``, ``publicity`` and ``consistency``; findings and their texts in ``findings``; what a rule sees
in ``context``. It stays light: ``award.config`` imports it when it loads a season.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from award.completeness.rules import consistency, eligibility, fields, materials, publicity, recommender
from award.completeness.rules.context import CheckContext
from award.completeness.rules.findings import Finding, Result, Rule, RuleError
from award.completeness.rules.findings import material_label as material_label  # intake names a material here
from award.enums import CheckOutcome, Severity

if TYPE_CHECKING:
    from award.config import Season

__all__ = [
    "ALL_CATEGORIES", "RULES", "CheckContext", "Evaluation", "Finding", "Result", "Rule", "RuleError", "evaluate",
    "material_label", "rules_for",
]

ALL_CATEGORIES = frozenset({"organization", "education", "sme", "team", "individual"})


def _rule(rule_id: str, check: Callable[[CheckContext], list[Finding]], categories: frozenset[str] = ALL_CATEGORIES,
          severity: Severity = Severity.BLOCKING) -> Rule:
    return Rule(rule_id, categories, severity, check)


_ORGS = frozenset({"organization", "education", "sme", "team"})

RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _rule("materials.required", materials.required),
        _rule("materials.unit_opinion", materials.unit_opinion),
        _rule("materials.city_recommendation", materials.city_recommendation),
        _rule("fields.required", fields.required),
        _rule("fields.credit_code", fields.credit_code),
        _rule("fields.id_number", fields.id_number, frozenset({"individual"})),
        _rule("fields.phone", fields.phone),
        _rule("fields.email", fields.email),
        _rule("fields.dates", fields.dates),
        _rule("recommender.opinion", recommender.opinion),
        _rule("eligibility.established_in_china", eligibility.established_in_china, _ORGS),
        _rule("eligibility.no_violation", eligibility.no_violation, _ORGS),
        _rule("eligibility.individual_conduct", eligibility.no_violation, frozenset({"individual"})),
        _rule("eligibility.defence_industry", eligibility.defence_industry),
        _rule("eligibility.other_channels", eligibility.other_channels),
        _rule("eligibility.school_type", eligibility.school_type, frozenset({"education"})),
        _rule("eligibility.individual_group", eligibility.individual_group, frozenset({"individual"})),
        _rule("publicity.min_workdays", publicity.min_workdays),
        _rule("consistency.form_pdf", consistency.form_pdf),
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
        return [r for r in self.results if r.severity == Severity.REVIEW]

    @property
    def outcome(self) -> CheckOutcome:
        if any(r.ineligible and r.blocking for r in self.results):
            return CheckOutcome.INELIGIBLE
        if self.blocking:
            return CheckOutcome.INCOMPLETE
        return CheckOutcome.REVIEW if self.reviews else CheckOutcome.COMPLETE


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
