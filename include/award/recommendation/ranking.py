"""Third-party review scores and the ranking under the province's quota.

Scores arrive as .xlsx / .csv files in shared storage under ``scores/``. Each file is archived first
(``archive_inbound``, purpose "scores"), then validated as a whole with pandas; a file with any error imports
nothing (all-or-nothing) and the error names the file, the spreadsheet row and the column. A good file upserts
``ReviewScore`` rows and moves the applications PUBLICITY_PASSED -> REVIEWED.

Ranking (per group, ``season.categories[c].group``) is documented in docs/ranking.md: one ranked list per group
under the 附件7 quota (``quotas.<group>.places``); the province does not choose between 中国质量奖 and 提名奖 (the
national committee does). Winners of the provincial government quality award and of its nomination award come
first (recorded with award and year), then score descending, then the earlier complete submission, then the
submission number; the line is never stretched for a tie (see ``rank_group``). A group is ranked only when
every on-time application of it has reached a final state before ranking (scored, or refused/withdrawn/removed),
so an application still on its way can never be left out behind a ranked list.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from award.config import PriorityWinner, Quota, Season
from award.inbound.archive import archive_inbound, record_problem
from award.states import TERMINAL, State, audit, transition
from award.storage.blobs import BlobStore
from award.store.models import Applicant, Application, InboundItem, ReviewScore
from award.templating import message_group

log = logging.getLogger(__name__)


_text = message_group("recommendation", "ranking")


ACTOR = "recommendation"
SCORE_PREFIX = "scores/"
SCORE_SUFFIXES = (".xlsx", ".csv")
# score-file column headers, compared with what staff type in the spreadsheet (ranking.columns in the YAML)
COL_NUMBER = _text("columns.number")
COL_NAME = _text("columns.name")
COL_CODE = _text("columns.code")
COL_SCORE = _text("columns.score")
# states from which a score may be (re-)imported: a re-import before ranking corrects the score
SCORABLE = (State.PUBLICITY_PASSED, State.REVIEWED)
RANKED = (
    State.CANDIDATE, State.CANDIDATE_PUBLICITY, State.CANDIDATE_OBJECTION, State.CANDIDATE_CONFIRMED,
    State.RECOMMENDED, State.EXPORTED, State.NOT_RECOMMENDED,
)
# an on-time application in any other non-final state is still on its way to a score: its group waits for it
# (derived from the state machine, so a state added before ranking is waited for too)
ON_THE_WAY = tuple(s for s in State if s not in TERMINAL and s not in RANKED and s != State.REVIEWED)


# ---------------------------------------------------------------- score files
@dataclass(frozen=True)
class ScoreIssue:
    """One problem in a score file: the file, the spreadsheet row (1 = header) and the column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += _text("scores.at_row", row=self.row)
        if self.column:
            where += _text("scores.at_column", column=self.column)
        return f"{where}: {self.message}"


class ScoreFileError(ValueError):
    """A score file that cannot be imported; nothing from it was imported."""

    def __init__(self, issues: Sequence[ScoreIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def file(self) -> str:
        return self.issues[0].file

    @property
    def row(self) -> int | None:
        return self.issues[0].row

    @property
    def column(self) -> str | None:
        return self.issues[0].column


@dataclass(frozen=True)
class ScoreRow:
    """A validated score for one application."""

    application_id: int
    submission_no: str
    score: float
    row: int


def _code_of(app: Application) -> str:
    """The bare code of an application: the credit code (team: its unit's code) or the ID number."""
    return app.applicant.key.split("/", 1)[0].upper()


def sent_code(app: Application) -> str:
    """The code as the office sends it out (score sheet template, lists): a team's unit credit code alone, an
    individual's ID number masked, an organisation's credit code as is (``award.identity.listed_code``)."""
    from award.identity import listed_code

    return listed_code(app.applicant.kind, app.applicant.key)


def _norm(text: str) -> str:
    """Compare codes and names as people type them: full-width folded, spaces dropped, upper case."""
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


def code_matches(app: Application, given: str) -> bool:
    """Whether a score file's code agrees with the application: its bare code, its full key (team
    ``code/名称``, as older templates listed teams), or the masked form the office sent out (``sent_code``)."""
    wanted = _norm(given)
    return wanted in {_norm(_code_of(app)), _norm(app.applicant.key), _norm(sent_code(app))}


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text.lower() in ("nan", "none") else text


def read_table(data: bytes, filename: str) -> Any:
    """The file as a pandas DataFrame of strings (.xlsx: first sheet; .csv: UTF-8 (BOM) or GB18030)."""
    import pandas as pd

    suffix = PurePosixPath(filename).suffix.lower()
    try:
        if suffix == ".xlsx":
            frame = pd.read_excel(io.BytesIO(data), sheet_name=0, dtype=str, engine="openpyxl")
        elif suffix == ".csv":
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("gb18030")
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
        else:
            raise ScoreFileError([ScoreIssue(filename, None, None, _text("scores.unsupported_type", suffix=suffix))])
    except ScoreFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable spreadsheet is reported the same way
        issue = ScoreIssue(filename, None, None, _text("scores.unreadable", error=type(exc).__name__))
        raise ScoreFileError([issue]) from None
    frame.columns = [_clean(c) for c in frame.columns]
    return frame


# A score file is checked by two rule lists, in the style of ``award.completeness.rules.RULES``: ``SCORE_HEADER_RULES`` look
# at the header row (any issue there stops the check), then ``SCORE_ROW_RULES`` look at each row in order. Each
# rule adds its issues (``ScoreTable.add``); a row rule that leaves nothing more to check in its row sets
# ``line.stop``. A row whose rules all ran and that has a score becomes a ``ScoreRow``.
@dataclass
class ScoreTable:
    """What the score-file rules look at: the file's columns, the season, its applications, and the issues."""

    filename: str
    season: Season
    columns: list[str]
    issues: list[ScoreIssue] = field(default_factory=list)
    apps: Sequence[Application] = ()
    by_number: dict[str, Application] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)  # application id -> the first row that scored it

    def add(self, row: int | None, column: str | None, key: str, **params: Any) -> None:
        self.issues.append(ScoreIssue(self.filename, row, column, _text(f"scores.{key}", **params)))

    def load(self, session: Session) -> None:
        """The season's applications (with their applicants), also by normalised 申报编号."""
        self.apps = session.scalars(
            select(Application).where(Application.season == self.season.season_id)
            .options(selectinload(Application.applicant))
        ).all()
        self.by_number = {_norm(a.submission_no): a for a in self.apps}


@dataclass
class ScoreLine:
    """One non-blank row of a score file: its spreadsheet row number, cleaned cells and score."""

    row: int
    values: dict[str, str]
    score: float | None  # the score cell as a number (None: empty or not a number)
    app: Application | None = None
    stop: bool = False  # nothing more to check in this row

    @property
    def number(self) -> str:
        return _norm(self.values.get(COL_NUMBER, ""))

    @property
    def code(self) -> str:
        return self.values.get(COL_CODE, "")

    @property
    def raw_score(self) -> str:
        return self.values.get(COL_SCORE, "")

    @property
    def key_column(self) -> str:
        """The column the row was matched by: 申报编号 when given, else 统一代码."""
        return COL_NUMBER if self.number else COL_CODE

    @property
    def application(self) -> Application:
        assert self.app is not None, "a row rule after the application was found"
        return self.app


def _header_unique(t: ScoreTable) -> None:
    """No column header appears twice."""
    for col in sorted({c for c in t.columns if c and t.columns.count(c) > 1}):
        t.add(1, col, "duplicate_header")


def _header_required(t: ScoreTable) -> None:
    """Every column the season requires (``scores.required_columns``) is present."""
    for col in t.season.scores.required_columns:
        if col not in t.columns:
            t.add(1, col, "missing_column")


def _header_score(t: ScoreTable) -> None:
    """The score column is present (reported here when the season does not require it by name)."""
    if COL_SCORE not in t.columns and COL_SCORE not in t.season.scores.required_columns:
        t.add(1, COL_SCORE, "missing_score_column")


def _header_key(t: ScoreTable) -> None:
    """A row can be matched to its application: 申报编号 or 统一代码 is present."""
    if COL_NUMBER not in t.columns and COL_CODE not in t.columns:
        t.add(1, COL_NUMBER, "missing_key_column", number=COL_NUMBER, code=COL_CODE)


def _row_required_cells(t: ScoreTable, line: ScoreLine) -> None:
    """Every required column has a value in the row."""
    for col in t.season.scores.required_columns:
        if not line.values.get(col):
            t.add(line.row, col, "required_empty")


def _row_by_number(t: ScoreTable, line: ScoreLine) -> None:
    """A given 申报编号 names an application of the season (else the row stops here)."""
    if not line.number:
        return
    line.app = t.by_number.get(line.number)
    if line.app is None:
        t.add(line.row, COL_NUMBER, "unknown_number", number=line.number)
        line.stop = True


def _row_code_agrees(t: ScoreTable, line: ScoreLine) -> None:
    """A 统一代码 given beside the 申报编号 is that application's."""
    if line.app is not None and line.code and not code_matches(line.app, line.code):
        t.add(line.row, COL_CODE, "code_mismatch", number=line.number)


def _row_by_code(t: ScoreTable, line: ScoreLine) -> None:
    """Without a 申报编号, the 统一代码 names exactly one application (a row with neither stops here: its empty
    required cell is reported)."""
    if line.app is not None:
        return
    if not line.code:
        line.stop = True
        return
    matches = [a for a in t.apps if code_matches(a, line.code)]
    if len(matches) == 1:
        line.app = matches[0]
        return
    t.add(line.row, COL_CODE, "unknown_code" if not matches else "ambiguous_code")
    line.stop = True


def _row_name_agrees(t: ScoreTable, line: ScoreLine) -> None:
    """A given 名称 is the application's."""
    app = line.application
    name = line.values.get(COL_NAME, "")
    if name and _norm(name) != _norm(app.applicant.name):
        t.add(line.row, COL_NAME, "name_mismatch", number=app.submission_no)


def _row_scorable(t: ScoreTable, line: ScoreLine) -> None:
    """The application awaits its score (PUBLICITY_PASSED, or REVIEWED: a correction before ranking)."""
    app = line.application
    if State(app.state) not in SCORABLE:
        t.add(line.row, line.key_column, "not_scorable", number=app.submission_no, state=app.state)


def _row_score_value(t: ScoreTable, line: ScoreLine) -> None:
    """The score is a number within [scores.minimum, scores.maximum]."""
    cfg = t.season.scores
    raw = line.raw_score
    if not raw:
        if COL_SCORE not in cfg.required_columns:  # a required one is reported by _row_required_cells
            t.add(line.row, COL_SCORE, "score_empty")
    elif line.score is None:
        t.add(line.row, COL_SCORE, "score_not_number", raw=raw)
    elif not (cfg.minimum <= line.score <= cfg.maximum):
        t.add(line.row, COL_SCORE, "score_out_of_range", raw=raw, minimum=f"{cfg.minimum:g}",
              maximum=f"{cfg.maximum:g}")


def _row_once(t: ScoreTable, line: ScoreLine) -> None:
    """No application is scored twice in the file (the later row stops here)."""
    app = line.application
    if app.id in t.seen:
        t.add(line.row, line.key_column, "duplicate", number=app.submission_no, first_row=t.seen[app.id])
        line.stop = True
    else:
        t.seen[app.id] = line.row


SCORE_HEADER_RULES: tuple[Callable[[ScoreTable], None], ...] = (
    _header_unique,
    _header_required,
    _header_score,
    _header_key,
)
SCORE_ROW_RULES: tuple[Callable[[ScoreTable, ScoreLine], None], ...] = (
    _row_required_cells,
    _row_by_number,
    _row_code_agrees,
    _row_by_code,
    _row_name_agrees,
    _row_scorable,
    _row_score_value,
    _row_once,
)


def _score_lines(frame: Any, columns: list[str]) -> Iterator[ScoreLine]:
    """The table's non-blank rows (the header is spreadsheet row 1), scores read as pandas reads numbers."""
    import pandas as pd

    numbers = pd.to_numeric(frame[COL_SCORE].map(_clean), errors="coerce")
    for pos, (_, record) in enumerate(frame.iterrows()):
        values = {c: _clean(record.get(c)) for c in columns}
        if any(values.values()):
            score = numbers.iloc[pos]
            yield ScoreLine(pos + 2, values, None if pd.isna(score) else float(score))


def validate_scores(frame: Any, filename: str, *, session: Session, season: Season) -> list[ScoreRow]:
    """Check a score table against the configuration and the store; raise ScoreFileError listing every issue.

    The header rules (``SCORE_HEADER_RULES``) run first, then the row rules (``SCORE_ROW_RULES``) on every row:
    every required column present; every row names a known application of the season (by 申报编号, else by
    统一代码 when that is unambiguous) that is PUBLICITY_PASSED (or REVIEWED: a correction before ranking); a
    given 统一代码 / 名称 agrees with the application; the score is a number within [scores.minimum,
    scores.maximum]; no application twice.
    """
    table = ScoreTable(filename, season, list(frame.columns))
    for header_rule in SCORE_HEADER_RULES:
        header_rule(table)
    if table.issues:
        raise ScoreFileError(table.issues)
    if frame.empty:
        raise ScoreFileError([ScoreIssue(filename, 2, None, _text("scores.no_rows"))])
    table.load(session)
    rows: list[ScoreRow] = []
    for line in _score_lines(frame, table.columns):
        if _check_line(table, line) and line.score is not None:
            app = line.application
            rows.append(ScoreRow(app.id, app.submission_no, line.score, line.row))
    if table.issues:
        raise ScoreFileError(table.issues)
    return rows


def _check_line(table: ScoreTable, line: ScoreLine) -> bool:
    """Run the row rules in order; False when one of them stopped the row."""
    for rule in SCORE_ROW_RULES:
        rule(table, line)
        if line.stop:
            return False
    return True


# ---------------------------------------------------------------- the score sheet the office sends out
SHEET_PREFIX = "score_sheets/"


def score_sheet_rows(session: Session, season: Season) -> list[list[str]]:
    """One row per application awaiting its score (``SCORABLE``): 申报编号, 名称, code as sent out, 类别."""
    apps = session.scalars(
        select(Application)
        .where(Application.season == season.season_id, Application.state.in_([s.value for s in SCORABLE]))
        .options(selectinload(Application.applicant))
        .order_by(Application.submission_no)
    ).all()
    return [[a.submission_no, a.applicant.name, sent_code(a), season.category(a.category).label] for a in apps]


def score_sheet_bytes(season: Season, rows: Sequence[Sequence[str]]) -> bytes:
    """The score sheet template (.xlsx): codes and names filled in and locked, only the score column open.

    Row 1 is the header the import reads; a second sheet explains how to fill it in. The workbook's dates are
    fixed, so the same rows give the same bytes.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, Protection
    from openpyxl.worksheet.datavalidation import DataValidation

    header = [COL_NUMBER, COL_NAME, COL_CODE, _text("sheet.category"), COL_SCORE]
    wb = Workbook()
    ws = wb.active
    ws.title = _text("sheet.title")
    ws.append(header)
    for row in rows:
        ws.append([*row, None])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    score_col = len(header)
    for r in range(2, len(rows) + 2):
        ws.cell(row=r, column=3).number_format = "@"
        ws.cell(row=r, column=score_col).protection = Protection(locked=False)
    if rows:
        check = DataValidation(type="decimal", operator="between", formula1=f"{season.scores.minimum:g}",
                               formula2=f"{season.scores.maximum:g}", allow_blank=True, showErrorMessage=True,
                               error=_text("sheet.range_error", minimum=f"{season.scores.minimum:g}",
                                           maximum=f"{season.scores.maximum:g}"))
        ws.add_data_validation(check)
        letter = ws.cell(row=1, column=score_col).column_letter
        check.add(f"{letter}2:{letter}{len(rows) + 1}")
    ws.protection.sheet = True  # no password: it only keeps the agency from retyping codes by accident
    for i, width in enumerate((16, 36, 30, 22, 12), start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"
    notes = wb.create_sheet(_text("sheet.notes_title"))
    for line in _text("sheet.notes", unit=season.recommending_unit.name, number=COL_NUMBER, score=COL_SCORE,
                      minimum=f"{season.scores.minimum:g}",
                      maximum=f"{season.scores.maximum:g}").splitlines():
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    stamp = datetime(season.year, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def score_sheet_key(season: Season) -> str:
    """Where the template lives in shared storage (never under ``scores/``, which the import reads)."""
    return SHEET_PREFIX + _text("sheet.filename", season=season.season_id)


def write_score_sheet(rt: Any) -> dict[str, Any]:
    """Write the score sheet template to shared storage when the list of applications awaiting a score changed.

    Returns {"key", "rows", "written"}; nothing is written when there is nobody to score or the list is the same.
    """
    from award.store import session_scope

    with session_scope(rt.db_url) as session:
        rows = score_sheet_rows(session, rt.season)
    key = score_sheet_key(rt.season)
    if not rows:
        return {"key": key, "rows": 0, "written": False}
    data = score_sheet_bytes(rt.season, rows)
    try:
        current = rt.shared.read(key)
    except (FileNotFoundError, KeyError, OSError):
        current = None
    except Exception:  # noqa: BLE001 - a storage backend's own "no such key" error
        current = None
    if current is not None and _sheet_rows(current) == [list(r) for r in rows]:
        return {"key": key, "rows": len(rows), "written": False}
    rt.shared.write(key, data)
    return {"key": key, "rows": len(rows), "written": True}


def _sheet_rows(data: bytes) -> list[list[str]] | None:
    try:
        frame = read_table(data, "sheet.xlsx")
    except ScoreFileError:
        return None
    return [[_clean(v) for v in row[:4]] for row in frame.itertuples(index=False)]


@dataclass
class ImportResult:
    """What one score file did."""

    file: str
    inbound_item_id: int
    imported: int = 0
    skipped: bool = False  # already handled earlier (same object version)
    error: str | None = None
    issues: list[str] = field(default_factory=list)  # every problem, with row and column (a refused file)

    @property
    def refused(self) -> bool:
        """Refused in this run (not a file refused earlier and skipped now)."""
        return bool(self.error) and not self.skipped


def notify_refused(session: Session, season: Season, filename: str, item_id: int, failure: ScoreFileError) -> None:
    """Queue one staff notice to ops listing every problem of a refused score file (row and column), once."""
    from award.mail.outbox import enqueue
    from award.templating import message

    unit = season.recommending_unit
    enqueue(
        session, key=f"recommendation:staff_notice:scores-refused-{season.season_id}-{item_id}",
        template="staff_notice", to=[str(unit.ops_email)],
        context={"greeting": message("recommendation", "staff_notice.greeting"), "unit": unit,
                 "season_label": f"{season.award.edition}{season.award.name}",
                 "title": _text("refused_title", file=filename, count=len(failure.issues)),
                 "text": _text("refused_text"), "items": [str(i) for i in failure.issues]},
    )


def refused_summary(results: Sequence[ImportResult]) -> str | None:
    """The reason a run fails when it refused a score file (None when none was refused)."""
    refused = [r for r in results if r.refused]
    if not refused:
        return None
    return _text("refused_reason", files=[f"{r.file}（{len(r.issues) or 1}）" for r in refused])


def import_score_data(
    session: Session,
    blobs: BlobStore,
    *,
    season: Season,
    data: bytes,
    filename: str,
    channel: str = "local",
    source_key: str | None = None,
    actor: str = ACTOR,
) -> ImportResult:
    """Archive one score file, validate it and import it all-or-nothing (in the caller's transaction).

    A file seen before (same channel and source key) is skipped. A bad file is recorded as a problem
    (the archived original is kept) and ScoreFileError is raised after the problem is flushed; the caller
    decides whether to commit the record (``import_scores`` does) — no score from it is written either way.
    """
    from award.storage.blobs import sha256_bytes

    key = source_key or f"upload:{filename}:{sha256_bytes(data)}"
    archived = archive_inbound(
        session, blobs, season=season.season_id, channel=channel, source_key=key, data=data,
        purpose="scores", filename=filename,
    )
    item = archived.item
    if not archived.created and item.status in ("parsed", "failed"):
        return ImportResult(filename, item.id, skipped=True, error=item.problem)
    try:
        rows = validate_scores(read_table(data, filename), filename, session=session, season=season)
    except ScoreFileError as exc:
        for issue in exc.issues:
            record_problem(session, code="scores.invalid", message=str(issue), inbound_item=item, filename=filename)
        session.flush()
        raise
    group_of: dict[str, str] = {cid: cat.group for cid, cat in season.categories.items()}
    for row in rows:
        app = session.get(Application, row.application_id)
        assert app is not None
        existing = session.scalar(
            select(ReviewScore).where(ReviewScore.season == season.season_id, ReviewScore.application_id == app.id)
        )
        if existing is None:
            session.add(ReviewScore(
                season=season.season_id, application_id=app.id, group=group_of[app.category], score=row.score,
                source_sha256=item.sha256,
            ))
        else:
            existing.score, existing.source_sha256, existing.group = row.score, item.sha256, group_of[app.category]
            existing.rank = existing.placement = None
        transition(session, app, State.REVIEWED, actor=actor, reason=_text("audit.scores_imported"),
                   details={"score": row.score, "file": filename, "row": row.row, "source_sha256": item.sha256})
    item.status = "parsed"
    session.flush()
    log.info("imported %d score(s) from %s", len(rows), filename)
    return ImportResult(filename, item.id, imported=len(rows))


def import_scores(rt: Any, *, actor: str = ACTOR) -> list[ImportResult]:
    """Import every new score file under ``scores/`` in shared storage, each in its own transaction.

    A bad file is recorded (problem + failed inbound item), reported in the result and skipped on later runs
    until a corrected file (a new object version) arrives.
    """
    from award.storage.shared import S3Storage
    from award.store import session_scope

    channel = "s3" if isinstance(rt.shared, S3Storage) else "local"
    results: list[ImportResult] = []
    for obj in rt.shared.list(SCORE_PREFIX):
        name = PurePosixPath(obj.key).name
        if not name.lower().endswith(SCORE_SUFFIXES) or name.startswith(("~$", ".")):
            continue
        source_key = f"shared:{obj.key}@{obj.etag}"
        with session_scope(rt.db_url) as session:
            seen = session.scalar(
                select(InboundItem).where(InboundItem.channel == channel, InboundItem.source_key == source_key)
            )
            if seen is not None and seen.status in ("parsed", "failed"):
                results.append(ImportResult(obj.key, seen.id, skipped=True, error=seen.problem))
                continue
        data = rt.shared.read(obj.key)
        failure: ScoreFileError | None = None
        with session_scope(rt.db_url) as session:
            savepoint = session.begin_nested()
            try:
                results.append(import_score_data(
                    session, rt.blobs, season=rt.season, data=data, filename=obj.key, channel=channel,
                    source_key=source_key, actor=actor,
                ))
                savepoint.commit()
            except ScoreFileError as exc:
                savepoint.rollback()  # nothing from the file: no score, no transition
                failure = exc
        if failure is not None:
            with session_scope(rt.db_url) as session:  # the archived original and the problems stay on record
                archived = archive_inbound(
                    session, rt.blobs, season=rt.season.season_id, channel=channel, source_key=source_key,
                    data=data, purpose="scores", filename=obj.key,
                )
                for issue in failure.issues:
                    record_problem(session, code="scores.invalid", message=str(issue), inbound_item=archived.item,
                                   filename=obj.key)
                notify_refused(session, rt.season, obj.key, archived.item.id, failure)
                results.append(ImportResult(obj.key, archived.item.id, error=str(failure),
                                            issues=[str(i) for i in failure.issues]))
            log.warning("score file %s refused (%d issue(s))", obj.key, len(failure.issues))
    return results


# ---------------------------------------------------------------- ranking
@dataclass(frozen=True)
class RankInput:
    """What the ranking looks at for one application."""

    application_id: int
    submission_no: str
    score: float
    priority: bool
    complete_at: datetime


@dataclass(frozen=True)
class Ranked:
    """One application's place in its group."""

    application_id: int
    submission_no: str
    rank: int
    placement: str  # candidate (within the quota) | none
    score: float
    priority: bool
    tie_at_line: bool = False  # same priority and score as someone on the other side of the quota line


def rank_key(entry: RankInput) -> tuple[Any, ...]:
    """The sort key: priority winners first, higher score, earlier complete submission, submission number."""
    return (not entry.priority, -entry.score, entry.complete_at, entry.submission_no)


def rank_group(entries: Sequence[RankInput], quota: Quota) -> list[Ranked]:
    """Rank one group into one list and mark the first ``quota.places`` as candidates (no award tier).

    Ties are broken by ``rank_key`` so the order is total; the quota is a hard cap, so a tie straddling the
    line is never resolved by giving both places (nor by leaving a place empty): the tie-breakers decide and
    the entries on both sides of the line are flagged ``tie_at_line`` for the leadership group to see.
    """
    ordered = sorted(entries, key=rank_key)
    line = quota.places
    out: list[Ranked] = []
    for i, entry in enumerate(ordered):
        placement = "candidate" if i < line else "none"
        tie = False
        if 0 < line < len(ordered):
            above, below = ordered[line - 1], ordered[line]
            if (above.priority, above.score) == (below.priority, below.score) == (entry.priority, entry.score):
                tie = True
        out.append(Ranked(entry.application_id, entry.submission_no, i + 1, placement, entry.score,
                          entry.priority, tie))
    return out


@dataclass
class RankingResult:
    """What ``rank`` did, per group."""

    groups: dict[str, list[Ranked]] = field(default_factory=dict)

    @property
    def candidates(self) -> list[int]:
        return [r.application_id for g in self.groups.values() for r in g if r.placement != "none"]

    @property
    def not_recommended(self) -> list[int]:
        return [r.application_id for g in self.groups.values() for r in g if r.placement == "none"]


class RankingError(ValueError):
    """The ranking cannot run (e.g. an application still waits for its score); nothing was changed."""


def priority_keys(season: Season) -> set[str]:
    """The keys (credit codes / ID numbers) of provincial quality award winners, upper-case."""
    return {w.key.strip().upper() for w in season.priority_winners}


def priority_winner(season: Season, key: str) -> PriorityWinner | None:
    """The season's entry (award and year) for a provincial quality award winner's key, if it is one."""
    wanted = key.strip().upper()
    return next((w for w in season.priority_winners if w.key.strip().upper() == wanted), None)


def priority_label(winner: PriorityWinner | None) -> str:
    """“2021年某省人民政府质量奖” (year and award from the season) for the internal ranking sheet and the approval step; empty when none."""
    return _text("priority_label", year=winner.year, award=winner.award) if winner else ""


def _complete_at(app: Application) -> datetime:
    """When the complete application was in: its last material change (a correction), else its receipt."""
    return app.changed_at or app.received_at


def rank(session: Session, season: Season, *, actor: str = ACTOR) -> RankingResult:
    """Rank every REVIEWED application of the season per group and move it to CANDIDATE / NOT_RECOMMENDED.

    A group waits (RankingError, nothing changed) while any of its on-time applications is still on its way to a
    score (``ON_THE_WAY``: in completeness, department review, publicity, or publicity passed without a score),
    so no application is ever left out of the list. Once a group is ranked its list is final.
    """
    apps = session.scalars(
        select(Application).where(Application.season == season.season_id).options(selectinload(Application.applicant))
    ).all()
    scores = {
        s.application_id: s
        for s in session.scalars(select(ReviewScore).where(ReviewScore.season == season.season_id))
    }
    winners = priority_keys(season)
    result = RankingResult()
    for group in ("organization", "individual"):
        members = [a for a in apps if season.category(a.category).group == group]
        reviewed = [a for a in members if a.state == State.REVIEWED.value]
        if not reviewed:
            continue
        waiting = sorted((a.submission_no, a.state) for a in members if State(a.state) in ON_THE_WAY)
        if waiting:
            raise RankingError(_text("waiting", group=group, waiting=[f"{n}（{s}）" for n, s in waiting]))
        ranked_before = sorted(a.submission_no for a in members if State(a.state) in RANKED and a.id in scores)
        if ranked_before:
            raise RankingError(_text("already_ranked", group=group, ranked=ranked_before[:5],
                                     reviewed=sorted(a.submission_no for a in reviewed)))
        entries = []
        basis: dict[int, PriorityWinner | None] = {}
        for app in reviewed:
            basis[app.id] = priority_winner(season, app.applicant.key)
            prio = basis[app.id] is not None or app.applicant.key.strip().upper() in winners
            app.priority = prio
            entries.append(RankInput(app.id, app.submission_no, scores[app.id].score, prio, _complete_at(app)))
        ranked = rank_group(entries, season.quotas[group])
        by_id = {a.id: a for a in reviewed}
        for r in ranked:
            app = by_id[r.application_id]
            row = scores[r.application_id]
            row.rank, row.placement, row.priority = r.rank, r.placement, r.priority
            winner = basis[r.application_id]
            details = {"group": group, "rank": r.rank, "placement": r.placement, "score": r.score,
                       "priority": r.priority, "tie_at_line": r.tie_at_line,
                       "priority_award": winner.award if winner else None,
                       "priority_year": winner.year if winner else None}
            if r.placement == "none":
                transition(session, app, State.NOT_RECOMMENDED, actor=actor, reason=_text("audit.outside_quota"),
                           details=details)
            else:
                transition(session, app, State.CANDIDATE, actor=actor, reason=_text("audit.within_quota"),
                           details=details)
        audit(session, actor=actor, entity_type="ranking", entity_id=None, action="rank",
              reason=_text("audit.ranked", group=group), details={"group": group, "quota": season.quotas[group].model_dump(),
                                                  "order": [r.submission_no for r in ranked]})
        result.groups[group] = ranked
    session.flush()
    return result


def ranking_table(session: Session, season: Season) -> list[dict[str, Any]]:
    """The current ranking as rows (for reports and the approval step; no ID numbers or phones)."""
    rows = session.execute(
        select(ReviewScore, Application, Applicant)
        .join(Application, ReviewScore.application_id == Application.id)
        .join(Applicant, Application.applicant_id == Applicant.id)
        .where(ReviewScore.season == season.season_id, ReviewScore.rank.is_not(None))
        .order_by(ReviewScore.group, ReviewScore.rank)
    ).all()
    return [
        {"group": s.group, "rank": s.rank, "placement": s.placement, "score": s.score, "priority": s.priority,
         "priority_basis": priority_label(priority_winner(season, p.key)), "submission_no": a.submission_no,
         "name": p.name, "category": a.category, "city": a.city or p.city or "", "state": a.state}
        for s, a, p in rows
    ]
