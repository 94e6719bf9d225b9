"""What a failed task means to a clerk: the kind of problem, the application or file it concerns, and what to do.

``describe(exc, dag_id=..., task_id=...)`` turns the exception of a failed task into a :class:`FailureNote` whose
words come from ``templates/ops/messages.yaml``. The DAG layer's failure notice puts it in the mail to ops. The
error's own text is kept (masked: no ID numbers, phones or e-mail addresses) for whoever reads the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from award.identity import mask_pii_text
from award.templating import message_catalogue, message_group, render

_text = message_group("ops", "failure")

# exception class name (anywhere in its MRO) -> kind in the catalogue; names, so nothing heavy is imported here
KINDS = {
    "SeasonConfigError": "season",
    "UnknownYearError": "calendar",
    "CalendarOverrideError": "calendar",
    "OpinionError": "opinions",
    "PublicityError": "publicity",
    "ScoreFileError": "scores",
    "RankingError": "ranking",
    "PackageError": "package",
    "SourceError": "source",
    "ConversionError": "conversion",
    "BlobCorrupt": "blob",
    "BlobNotFound": "blob",
    "IllegalTransition": "transition",
    "OperationalError": "database",
    "SMTPException": "smtp",
    "HITLTimeoutError": "timeout",
    "AirflowTaskTimeout": "timeout",
    "ConnectionError": "network",
    "TimeoutError": "network",
}
# attributes a domain error may carry naming what it is about, in the order they are looked for
ABOUT_ATTRIBUTES = ("submission_no", "file", "filename", "key", "path")
SUBMISSION_NO = re.compile(r"\b[A-Z]{2,}-\d{4}-\d{3,}\b")
MAX_DETAIL = 2000


@dataclass(frozen=True)
class FailureNote:
    """A failed task, told for a clerk."""

    kind: str
    what: str
    about: str
    detail: str
    next_step: str


def _kind(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls.__name__ in KINDS:
            return KINDS[cls.__name__]
    return "unknown"


def _about(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        for name in ABOUT_ATTRIBUTES:
            value = getattr(seen, name, None)
            if value:
                return mask_pii_text(str(value))
        found = SUBMISSION_NO.search(str(seen))
        if found:
            return found.group()
        seen = seen.__cause__ or seen.__context__
    return ""


def describe(exc: BaseException | None, *, dag_id: str, task_id: str) -> FailureNote:
    """The failure note of ``exc`` raised by ``dag_id.task_id`` (None: the task failed without an exception)."""
    kind = "unknown" if exc is None else _kind(exc)
    reruns = message_catalogue("ops")["failure"]["rerun"]
    rerun = _text(f"rerun.{dag_id}" if dag_id in reruns else "rerun.default", dag_id=dag_id, task_id=task_id)
    detail = "" if exc is None else mask_pii_text(f"{type(exc).__name__}: {exc}")[:MAX_DETAIL]
    return FailureNote(kind=kind, what=_text(f"what.{kind}"), about="" if exc is None else _about(exc),
                       detail=detail, next_step=f"{_text(f'next.{kind}')}{rerun}")


def failure_mail(note: FailureNote, *, dag_id: str, task_id: str, run_id: str = "",
                 try_number: object = "") -> tuple[str, str]:
    """Subject and HTML body of the ops mail for a failed task (templates/ops/task_failed.html.j2, escaped)."""
    subject = _text("subject", dag_id=dag_id, task_id=task_id, about=note.about)
    task = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "try_number": try_number}
    return " ".join(subject.split()), render("ops/task_failed.html.j2", failure=note, task=task)
