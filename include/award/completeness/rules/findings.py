"""What a rule finds and how it reads: findings, rendered results, the rule record and its message texts.

The applicant-facing text of every finding lives in the stage's catalogue, groups ``rules`` and
``material_labels`` of ``completeness/messages.yaml`` (Jinja2, details filled in; the words a rule puts into the
details, group ``words``, through :func:`phrase`); a finding kind marked
``ineligible: true`` there makes the application ineligible, one marked ``severity: warning`` is only a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from award.enums import Severity

if TYPE_CHECKING:
    from award.completeness.rules.context import CheckContext

CATALOGUE = "completeness"  # the stage's catalogue: completeness/templates/completeness/messages.yaml
MESSAGES_FILE = f"{CATALOGUE}/messages.yaml"  # as named in errors (award.templating finds the file)


class RuleError(ValueError):
    """A rule or its message data is wrong (a programming/configuration error, named)."""


@dataclass(frozen=True)
class Finding:
    """A problem a rule found: its kind (key in the catalogue's ``rules.<id>.findings``) and the details."""

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
        return self.severity == Severity.BLOCKING

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
            out.append(
                Result(
                    rule_id=self.id,
                    kind=finding.kind,
                    severity=Severity(spec.get("severity", self.severity)),
                    ineligible=bool(spec.get("ineligible", False)),
                    message=named(_render(spec["text"], finding.params)),
                    fix=named(_render(spec["fix"], finding.params)),
                    details={"kind": finding.kind, **_jsonable(finding.params)},
                )
            )
        return out


def messages() -> dict[str, Any]:
    """The stage's catalogue (read once; validated: it has the ``rules`` and ``material_labels`` groups)."""
    from award.templating import message_catalogue  # noqa: PLC0415 - jinja2 stays off the parse path (award.config imports the rules)

    data = message_catalogue(CATALOGUE)
    if "rules" not in data or "material_labels" not in data:
        raise RuleError(f"{MESSAGES_FILE}: expected groups 'rules' and 'material_labels'")
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


def phrase(key: str, /, **values: Any) -> str:
    """A word the rules put into a finding's details (group ``words``): the list joiner, a source's name."""
    from award.templating import message  # noqa: PLC0415 - jinja2 stays off the parse path (award.config imports the rules)

    return message(CATALOGUE, f"words.{key}", **values)


def _form_word(document: str) -> Callable[[str], str]:
    """The check texts call the applicant's form by the default word (申报表); a form the notice names otherwise
    (附件5, the individuals' 推荐表) is called by its own word in what its applicant is told."""
    from award.forms.spec import default_document  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

    default = default_document()
    return (lambda text: text) if document == default else (lambda text: text.replace(default, document))


def _render(text: str, params: dict[str, Any]) -> str:
    from award.templating import render_text  # noqa: PLC0415 - jinja2 stays off the parse path (award.config imports the rules)

    return render_text(text, **params).strip()


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}
