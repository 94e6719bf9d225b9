"""The stage's words: the reply sheet's labels and reply vocabulary, the problem and staff notices, the ops
decision's options, and the template blocks of letters and questions; plus the staff notice every step sends."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from award.config import Season
from award.mail.outbox import enqueue
from award.seasonfile import yaml_load
from award.templating import environment, message_group, render_mail, template_path

SHEET_TEXTS = "opinions/opinion_sheet.yaml"
NOTICE_TEXTS = "opinions/opinion_notices.yaml"
DECISION_TEXTS = "opinions/dept_decision.yaml"

_text = message_group("opinions", "opinions")


@lru_cache(maxsize=4)
def _yaml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml_load(template_path(name).read_text(encoding="utf-8"))
    return data


def sheet_texts() -> dict[str, Any]:
    """Labels of the reply sheet and the reply vocabulary (opinions/opinion_sheet.yaml)."""
    return _yaml(SHEET_TEXTS)


def notice_texts() -> dict[str, Any]:
    """Problem messages and staff notices (opinions/opinion_notices.yaml)."""
    return _yaml(NOTICE_TEXTS)


def decision_texts() -> dict[str, Any]:
    """Option labels and the reason field of the ops decision (opinions/dept_decision.yaml)."""
    return _yaml(DECISION_TEXTS)


def verdict_label(verdict: str) -> str:
    """The words for a verdict code (无异议, 有异议, ...)."""
    return str(sheet_texts()["verdict_labels"][verdict])


def render_blocks(name: str, **context: Any) -> dict[str, str]:
    """Render every block of a template on its own (stripped text), keyed by block name."""
    template = environment().get_template(name)
    ctx = template.new_context(context)
    return {block: "".join(render(ctx)).strip() for block, render in template.blocks.items()}



def base_context(season: Season, greeting: str) -> dict[str, Any]:
    """What every mail of the stage is given: the greeting, the recommending unit and the season's label."""
    return {"greeting": greeting, "unit": season.recommending_unit, "season_label": season.label}


def ops_notice(session: Session, season: Season, key: str, title: str, text: str, items: Sequence[str] = ()) -> None:
    """Queue a ``staff_notice`` mail to the ops address (once per idempotency ``key``)."""
    ctx = base_context(season, _text("greeting.staff")) | {"title": title, "text": text, "items": list(items)}
    enqueue(session, key=key, template="staff_notice", to=[str(season.recommending_unit.ops_email)], context=ctx)


def mail_preview(template: str, **context: Any) -> tuple[str, str]:
    """Render a mail template of this stage (subject, body) -- for the CLI and tests."""
    return render_mail(f"mail/{template}.txt.j2", **context)
