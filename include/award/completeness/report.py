"""The staff report of the completeness checks (形式审查情况): every application by city and category.

``write_report`` builds a pandas table (submission no, name, category, city, channel, state in Chinese,
problems, dates, last e-mail; never ID numbers or phones) and, when its content changed, writes it as .xlsx and
.html to shared storage: the latest under ``reports/<season>/形式审查情况.xlsx|.html`` and a dated copy
``形式审查情况-<timestamp>.xlsx|.html`` per change. The table's columns have English ids in code;
every Chinese word of the report (title, file name, sheet and column names, labels) comes from the group
``report`` of the stage's catalogue ``completeness/messages.yaml``; the page is ``completeness/report.html.j2``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from award.clock import now
from award.enums import Severity
from award.paper import paper_state
from award.states import LABELS_ZH, State
from award.store.models import Application, CheckRun, OutboxEmail
from award.templating import message_catalogue, render, render_text
from award.units import unit_for

if TYPE_CHECKING:
    from award.config import Season
    from award.storage.shared import SharedStorage

STATE_PREFIX = "state/reports"  # fingerprints of the latest reports (outside reports/, which staff browse)


@cache
def texts() -> dict[str, Any]:
    """The report's Chinese words (group ``report`` of completeness/messages.yaml)."""
    data = message_catalogue("completeness").get("report")
    if not isinstance(data, dict):
        raise ValueError("completeness/messages.yaml: expected a mapping 'report'")
    return data


def columns() -> list[str]:
    """The column ids in report order."""
    return list(texts()["columns"])


@dataclass
class ReportResult:
    """Where the report went and what it says in numbers."""

    xlsx_key: str
    html_key: str
    xlsx_uri: str
    html_uri: str
    rows: int
    by_state: dict[str, int] = field(default_factory=dict)
    changed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"xlsx": self.xlsx_uri, "html": self.html_uri, "rows": self.rows, "by_state": dict(self.by_state),
                "changed": self.changed}


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _channel(app: Application) -> str:
    words = texts()
    channels = sorted({app.channel, *(app.channels or [])})
    text = words["channel_joiner"].join(words["channels"].get(c, c) for c in channels)
    return render_text(words["multi_channel"], channels=text) if app.multi_channel or len(channels) > 1 else text


def paper_text(season: Season, app: Application) -> str:
    """What the application's paper and USB stick look like (empty when the season asks for none)."""
    state = paper_state(season, app)
    if not state.required:
        return ""
    words = texts()["paper"]
    parts = []
    if "paper" in state.missing:
        parts.append(render_text(words["missing_paper"], copies=state.copies, required=state.copies_required))
    if "usb" in state.missing:
        parts.append(words["missing_usb"])
    if state.late:
        parts.append(render_text(words["late"], what=words["joiner"].join(words["what"][w] for w in state.late),
                                 deadline=_fmt(state.deadline)))
    if not parts:
        parts.append(render_text(words["complete"], copies=state.copies, usb=state.usb_received_at is not None))
    return str(words["joiner"].join(parts))


def report_frame(session: Session, season: Season) -> pd.DataFrame:
    """One row per application of the season, sorted by city, category and submission number."""
    apps = list(session.scalars(
        select(Application).where(Application.season == season.season_id)
        .options(selectinload(Application.applicant), selectinload(Application.paper_receipt))
        .order_by(Application.id)
    ))
    ids = [a.id for a in apps]
    latest_runs: dict[int, CheckRun] = {}
    if ids:
        for check_run in session.scalars(
            select(CheckRun).where(CheckRun.application_id.in_(ids)).options(selectinload(CheckRun.results))
            .order_by(CheckRun.id)
        ):
            latest_runs[check_run.application_id] = check_run
    last_mail: dict[int, OutboxEmail] = {}
    if ids:
        for sent in session.scalars(
            select(OutboxEmail).where(OutboxEmail.application_id.in_(ids)).order_by(OutboxEmail.id)
        ):
            if sent.application_id is not None:
                last_mail[sent.application_id] = sent
    order: dict[str, int] = {cid: i for i, cid in enumerate(season.categories)}
    words = texts()
    rows = []
    for app in apps:
        run = latest_runs.get(app.id)
        problems = []
        if run is not None and app.state in (State.INCOMPLETE, State.COMPLETE, State.INELIGIBLE,
                                             State.CLOSED_INCOMPLETE, State.RECEIVED, State.NEEDS_REVIEW):
            prefixes: dict[str, str] = {Severity.BLOCKING: "", Severity.REVIEW: words["review_prefix"]}
            for r in run.results:
                if not r.passed:
                    problems.append(prefixes.get(r.severity, words["note_prefix"]) + (r.message or r.rule_id))
        mail = last_mail.get(app.id)
        category = season.find_category(app.category)
        rows.append({
            "submission_no": app.submission_no,
            "name": app.applicant.name if app.applicant else "",
            "category": category.label if category else app.category,
            "city": app.city or (app.fields or {}).get("city", "") or "",
            "channel": _channel(app),
            "recommending_unit": unit.name if (unit := unit_for(season, app)) else "",
            "state": LABELS_ZH.get(State(app.state), app.state),
            "paper": paper_text(season, app),
            "problems": "\n".join(f"{i}. {p}" for i, p in enumerate(problems, start=1)),
            "received_at": _fmt(app.received_at),
            "checked_at": _fmt(app.checked_at),
            "correction_due": app.correction_due.isoformat() if app.correction_due else "",
            "last_mail": mail.subject if mail else "",
            "last_mail_at": _fmt(mail.sent_at or mail.created_at) if mail else "",
            "last_mail_status": words["mail_status"].get(mail.status, mail.status) if mail else "",
            "_cat": order.get(app.category, 99),
        })
    frame = pd.DataFrame(rows, columns=[*columns(), "_cat"])
    city_order = {c: i for i, c in enumerate(season.province.cities)}
    frame["_city"] = frame["city"].map(lambda c: city_order.get(c, len(city_order)))
    frame = frame.sort_values(["_city", "city", "_cat", "submission_no"], kind="stable")
    return frame.drop(columns=["_cat", "_city"]).reset_index(drop=True)


def summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts by city and category (rows) and state (columns), with totals; axes named in Chinese."""
    words = texts()
    if frame.empty:
        return pd.DataFrame({words["total"]: []})
    labels: Mapping[str, str] = words["columns"]
    return pd.crosstab([frame["city"].rename(labels["city"]), frame["category"].rename(labels["category"])],
                       frame["state"].rename(labels["state"]), margins=True, margins_name=words["total"])


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its Chinese column names, for output."""
    return frame.rename(columns=texts()["columns"])


def render_xlsx(frame: pd.DataFrame, summary: pd.DataFrame) -> bytes:
    """The workbook: the summary sheet (汇总: counts) and the detail sheet (明细: every application)."""
    sheets = texts()["sheets"]
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        summary.to_excel(writer, sheet_name=sheets["summary"])
        _labelled(frame).to_excel(writer, sheet_name=sheets["detail"], index=False)
        sheet = writer.sheets[sheets["detail"]]
        widths = {"A": 14, "B": 32, "C": 20, "D": 10, "E": 14, "F": 14, "G": 80, "K": 50}
        for col, width in widths.items():
            sheet.column_dimensions[col].width = width
        sheet.freeze_panes = "A2"
    return buf.getvalue()


def render_html(frame: pd.DataFrame, summary: pd.DataFrame, season: Season, generated_at: datetime) -> str:
    """The HTML page: summary table and one detail table per city (text from completeness/report.html.j2)."""
    groups = [(city, _labelled(part).to_html(index=False, escape=True, na_rep="", classes="detail")
               .replace("\\n", "<br>"))
              for city, part in frame.groupby("city", sort=False)]
    return render(
        "completeness/report.html.j2",
        title=render_text(texts()["title"], edition=season.award.edition, award=season.award.name),
        generated_at=generated_at,
        total=len(frame),
        summary_html=summary.to_html(escape=True, classes="summary") if not frame.empty else "",
        groups=groups,
    )


def _breaks(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["problems"] = out["problems"].str.replace("\n", "\\n", regex=False)
    return out


def _fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of what the report says (its rows), not of when it was made."""
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()


def write_report(session: Session, season: Season, shared: SharedStorage, *, at: datetime | None = None) -> ReportResult:
    """Write the report when its content changed: the latest under a stable name (``形式审查情况.xlsx|.html``)
    plus a dated copy per change; an unchanged report writes nothing. Returns where and a summary."""
    at = at or now()
    frame = report_frame(session, season)
    by_state = {str(k): int(v) for k, v in frame["state"].value_counts().sort_index().items()}
    folder = f"reports/{season.season_id}"
    latest = f"{folder}/{texts()['file_stem']}"
    marker_folder = f"{STATE_PREFIX}/{season.season_id}/"
    marker = f"{marker_folder}{texts()['file_stem']}.sha256"
    digest = _fingerprint(frame)
    known = any(o.key == marker for o in shared.list(marker_folder))
    if known and shared.read(marker).decode("ascii").strip() == digest:
        return ReportResult(f"{latest}.xlsx", f"{latest}.html", shared.uri(f"{latest}.xlsx"),
                            shared.uri(f"{latest}.html"), len(frame), by_state, changed=False)
    summary = summary_frame(frame)
    xlsx = render_xlsx(frame, summary)
    html = render_html(_breaks(frame), summary, season, at).encode("utf-8")
    dated = f"{latest}-{at.strftime('%Y%m%d-%H%M%S')}"
    shared.write(f"{dated}.xlsx", xlsx)
    shared.write(f"{dated}.html", html)
    xlsx_uri = shared.write(f"{latest}.xlsx", xlsx)
    html_uri = shared.write(f"{latest}.html", html)
    shared.write(marker, digest.encode("ascii"))  # last: a crash before it only writes the report again
    return ReportResult(f"{latest}.xlsx", f"{latest}.html", xlsx_uri, html_uri, len(frame), by_state)
