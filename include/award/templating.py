"""Jinja2 templates for everything people read (Chinese): mails, notices, letters, reports."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared environment: undefined placeholders are errors, HTML templates autoescape."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
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
