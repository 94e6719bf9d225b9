"""The human decision on each objection (Airflow human-in-the-loop): the question, its form, and the answers.

The form (options 异议成立 / 异议不成立, a required reason, a submission number for an unmatched objection) is
``publicity/forms.yaml``, which the DAG file reads at parse time; the question is ``publicity/decision_request.md.j2``;
:func:`apply_answers` turns the answers into :func:`award.publicity.decisions.resolve_objection` calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import yaml
from sqlalchemy.orm import Session

from award.config import Season
from award.enums import ObjectionStatus
from award.publicity.decisions import resolve_objection
from award.publicity.errors import PublicityError
from award.publicity.notice import notice_row
from award.runtime import Runtime
from award.store.models import Application, Objection
from award.templating import render, template_path

FORMS = "publicity/forms.yaml"
UNKNOWN_USER = "unknown"


@cache
def decision_form() -> dict[str, Any]:
    """The decision's options (decision -> label), required fields and params (JSON schema each)."""
    form: dict[str, Any] = yaml.safe_load(template_path(FORMS).read_text(encoding="utf-8"))["decision"]
    return form


def decision_of(option: str) -> ObjectionStatus:
    """The decision an option label records (``异议成立`` -> upheld)."""
    for decision, label in decision_form()["options"].items():
        if label == option:
            return ObjectionStatus(decision)
    raise PublicityError(f"option: unknown decision option {option!r}")


def decision_request(session: Session, season: Season, objection_id: int) -> dict[str, str]:
    """Subject and body (Markdown) of the human decision on one objection, from templates/publicity/."""
    obj = session.get(Objection, objection_id)
    if obj is None:
        raise PublicityError(f"objection_id: no objection {objection_id}")
    app = session.get(Application, obj.application_id) if obj.application_id else None
    text = render("publicity/decision_request.md.j2", objection=obj, app=app, form=decision_form(),
                  row=notice_row(season, app) if app is not None else None)
    subject, _, body = text.strip().partition("\n")
    return {"subject": subject.strip(), "body": body.strip()}


def decision_requests(session: Session, rt: Runtime, objection_ids: list[int]) -> list[dict[str, str]]:
    """One question per objection, in order (the mapped HITL task's arguments)."""
    return [decision_request(session, rt.season, i) for i in objection_ids]


def apply_answers(session: Session, rt: Runtime, objection_ids: Sequence[int],
                  answers: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Record the answers of a mapped HITL task (answer i decides ``objection_ids[i]``).

    An answer is Airflow's HITL result: ``chosen_options``, ``params_input`` (reason, submission number) and
    ``responded_by_user`` (recorded as the decision maker).
    """
    done = 0
    for objection_id, answer in zip(objection_ids, answers, strict=True):
        params = answer.get("params_input") or {}
        user = answer.get("responded_by_user") or {}
        resolve_objection(
            session, rt, objection_id, decision_of(answer["chosen_options"][0]), str(params.get("reason", "")),
            str(user.get("name") or user.get("id") or UNKNOWN_USER),
            submission_no=str(params.get("submission_no") or "").strip() or None,
        )
        done += 1
    return {"decided": done}
