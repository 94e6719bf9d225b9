"""Every mail template renders with its declared context, under StrictUndefined: a placeholder typo fails here.

Each ``templates/mail/<name>.txt.j2`` has a sample context beside it, ``<name>.txt.j2.context.yaml``. Its optional
``_variants`` list holds overrides merged over the base context, one render each, so that every branch of an
``{% if %}`` is rendered too. A template without a context file fails, and so does a context naming a variable
the template does not use (the sample keeps up with the template).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import StrictUndefined, meta

from award.templating import environment, render_mail, template_dirs, template_path

LAYOUT = "_layout.txt.j2"
# every mail/*.j2 of every template folder (the core's and each stage's): a new stage's mails are found here
TEMPLATES = sorted({p.name for d in template_dirs() for p in (d / "mail").glob("*.j2") if p.name != LAYOUT})
CONTEXT_SUFFIX = ".context.yaml"


def _context_file(name: str) -> Path:
    return template_path(f"mail/{name}").with_name(f"{name}{CONTEXT_SUFFIX}")


def _contexts(name: str) -> list[dict[str, Any]]:
    path = _context_file(name)
    if not path.exists():
        pytest.fail(f"templates/mail/{name} has no declared context: add {path.name} beside it")
    base = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(base, dict), f"{path.name}: expected a mapping"
    variants = base.pop("_variants", [])
    return [base, *({**base, **variant} for variant in variants)]


def _names(name: str) -> set[str]:
    """The variables a template and everything it extends or includes read."""
    env = environment()
    found: set[str] = set()
    pending, seen = [f"mail/{name}"], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        assert env.loader is not None
        source, _, _ = env.loader.get_source(env, current)
        ast = env.parse(source)
        found |= meta.find_undeclared_variables(ast)
        pending += [ref for ref in meta.find_referenced_templates(ast) if ref]
    return found


def test_there_are_mail_templates() -> None:
    assert len(TEMPLATES) >= 20 and "ack.txt.j2" in TEMPLATES


def test_the_environment_is_strict() -> None:
    assert environment().undefined is StrictUndefined


@pytest.mark.parametrize("name", TEMPLATES)
def test_mail_template_renders_with_its_declared_context(name: str) -> None:
    for context in _contexts(name):
        subject, body = render_mail(f"mail/{name}", **context)
        assert subject.strip() and "\n" not in subject, name
        assert body.strip(), name
        assert "{{" not in body and "{%" not in body, name


@pytest.mark.parametrize("name", TEMPLATES)
def test_declared_context_names_only_what_the_template_reads(name: str) -> None:
    declared = set().union(*(context.keys() for context in _contexts(name)))
    unused = declared - _names(name)
    assert not unused, f"{name}{CONTEXT_SUFFIX} declares {sorted(unused)}, which the template does not read"


def test_no_context_without_its_template() -> None:
    orphans = [p.name for d in template_dirs() for p in (d / "mail").glob(f"*{CONTEXT_SUFFIX}") if p.name.removesuffix(CONTEXT_SUFFIX) not in TEMPLATES]
    assert not orphans, f"context files without a mail template: {orphans}"
