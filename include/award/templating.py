"""Jinja2 templates for everything people read (Chinese): mails, notices, letters, reports."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"  # the core's templates (shared layouts, ops, CLI, desk)


@cache
def template_dirs() -> tuple[Path, ...]:
    """Where templates are looked up, in order: the core's, then each package's own ``templates/`` folder.

    A stage keeps its templates beside its code, Django-style: ``award/publicity/templates/publicity/notice.html.j2``
    is the template ``publicity/notice.html.j2``. A new package's folder is found without any edit here;
    tests/unit/test_templating.py checks that no name is in two folders.
    """
    return (TEMPLATE_DIR, *sorted(p for p in PACKAGE_DIR.glob("*/templates") if p.is_dir()))


def template_path(name: str) -> Path:
    """The file of template or data file ``name`` (``"recommendation/package.yaml"``) in the first folder that has it."""
    for folder in template_dirs():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no template {name!r} in " + ", ".join(str(d) for d in template_dirs()))


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared environment: undefined placeholders are errors, HTML templates autoescape."""
    env = Environment(
        loader=FileSystemLoader([str(d) for d in template_dirs()]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cn_date"] = cn_date
    return env


def cn_date(value: Any) -> str:
    """2023-05-25 -> 2023年5月25日 (dates and datetimes)."""
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日"


def render(name: str, **context: Any) -> str:
    """Render a whole template."""
    return environment().get_template(name).render(**context)


def render_mail(name: str, **context: Any) -> tuple[str, str]:
    """Render a mail template: its ``subject`` block (one line) and the whole template as the body."""
    template = environment().get_template(name)
    if "subject" not in template.blocks:
        raise ValueError(f"mail template {name} has no subject block")
    subject = " ".join("".join(template.blocks["subject"](template.new_context(context))).split())
    body = template.render(**context).strip() + "\n"
    return subject, body


# ------------------------------------------------------------------ message catalogues


@cache
def message_catalogue(catalogue: str) -> dict[str, Any]:
    """The parsed ``<catalogue>/messages.yaml`` of the template folders (read once)."""
    path = template_path(f"{catalogue}/messages.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of message groups")
    return data


@lru_cache(maxsize=1)
def _text_environment() -> Environment:
    # the shared environment without autoescaping: messages are plain text, and from_string templates would
    # otherwise be escaped (select_autoescape's default for strings), turning "&" in a file name into "&amp;"
    return environment().overlay(autoescape=False)


@cache
def _message_template(catalogue: str, key: str) -> Template:
    node: Any = message_catalogue(catalogue)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"templates/{catalogue}/messages.yaml has no message {key!r}")
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(f"templates/{catalogue}/messages.yaml: {key!r} is a group, not a message")
    return _text_template(node)


@lru_cache(maxsize=512)
def _text_template(text: str) -> Template:
    return _text_environment().from_string(text)


def render_text(text: str, /, **values: Any) -> str:
    """Render a plain-text Jinja2 message given as a string (no HTML escaping; compiled once per text)."""
    return _text_template(text).render(**values)


def message(catalogue: str, key: str, /, **values: Any) -> str:
    """Render message ``key`` (dotted: ``"archive.encrypted"``) of ``templates/<catalogue>/messages.yaml``.

    Each message is compiled once; a missing key raises KeyError naming the catalogue and the key.
    """
    return _message_template(catalogue, key).render(**values)


def message_group(catalogue: str, group: str) -> Callable[..., str]:
    """A function rendering messages ``<group>.<key>`` of ``templates/<catalogue>/messages.yaml``.

    Each module that has text for people takes one: ``_text = message_group("intake", "archive")``.
    """
    prefix = group + "."

    def text(key: str, /, **values: Any) -> str:
        return message(catalogue, prefix + key, **values)

    text.__doc__ = f"Message ``{group}.<key>`` of templates/{catalogue}/messages.yaml."
    return text
