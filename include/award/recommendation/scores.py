"""Third-party review scores: the score files, checked as a whole and imported all-or-nothing.

Scores arrive as .xlsx / .csv files in shared storage under ``scores/``. Each file is archived first
(``archive_inbound``, purpose "scores"), then validated as a whole with pandas (the rule lists
``SCORE_HEADER_RULES`` and ``SCORE_ROW_RULES``); a file with any error imports nothing and the error names the
file, the spreadsheet row and the column, and ops get the whole list by mail. A good file upserts ``ReviewScore``
rows and moves the applications PUBLICITY_PASSED -> REVIEWED. The template the office sends the review agency is
``award.recommendation.score_sheet``; the ranking that follows is ``award.recommendation.ranking``.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from award.config import Season
from award.enums import InboundPurpose, InboundStatus, SourceChannel, State
from award.identity import listed_code
from award.inbound.archive import archive_inbound, record_problem
from award.mail.outbox import enqueue
from award.runtime import Runtime
from award.states import transition
from award.storage.blobs import BlobStore, sha256_bytes
from award.store import session_scope
from award.store.models import Application, InboundItem, ReviewScore
from award.templating import message, message_group

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
    return listed_code(app.applicant.kind, app.applicant.key)


def _norm(text: str) -> str:
    """Compare codes and names as people type them: full-width folded, spaces dropped, upper case."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


def code_matches(app: Application, given: str) -> bool:
    """Whether a score file's code agrees with the application: its bare code, its full key (team
    ``code/名称``, as older templates listed teams), or the masked form the office sent out (``sent_code``)."""
    wanted = _norm(given)
    return wanted in {_norm(_code_of(app)), _norm(app.applicant.key), _norm(sent_code(app))}


def clean_cell(value: Any) -> str:
    """A spreadsheet cell as text: stripped, and empty for a blank (pandas' nan, None)."""
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text.lower() in ("nan", "none") else text


def read_table(data: bytes, filename: str) -> Any:
    """The file as a pandas DataFrame of strings (.xlsx: first sheet; .csv: UTF-8 (BOM) or GB18030)."""
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a score file is read

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
    frame.columns = [clean_cell(c) for c in frame.columns]
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
    import pandas as pd  # noqa: PLC0415 - pandas loads only when a score file is read

    numbers = pd.to_numeric(frame[COL_SCORE].map(clean_cell), errors="coerce")
    for pos, (_, record) in enumerate(frame.iterrows()):
        values = {c: clean_cell(record.get(c)) for c in columns}
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


def import_summary(results: Sequence[ImportResult]) -> dict[str, Any]:
    """A run's score import in numbers: scores imported, files refused, and the reason the run fails (or None)."""
    return {"imported": sum(r.imported for r in results), "refused": sum(r.refused for r in results),
            "reason": refused_summary(results)}


def import_score_data(
    session: Session,
    blobs: BlobStore,
    *,
    season: Season,
    data: bytes,
    filename: str,
    channel: str = SourceChannel.LOCAL,
    source_key: str | None = None,
    actor: str = ACTOR,
) -> ImportResult:
    """Archive one score file, validate it and import it all-or-nothing (in the caller's transaction).

    A file seen before (same channel and source key) is skipped. A bad file is recorded as a problem
    (the archived original is kept) and ScoreFileError is raised after the problem is flushed; the caller
    decides whether to commit the record (``import_scores`` does) — no score from it is written either way.
    """
    key = source_key or f"upload:{filename}:{sha256_bytes(data)}"
    archived = archive_inbound(
        session, blobs, season=season.season_id, channel=channel, source_key=key, data=data,
        purpose=InboundPurpose.SCORES, filename=filename,
    )
    item = archived.item
    if not archived.created and item.status in (InboundStatus.PARSED, InboundStatus.FAILED):
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
    item.status = InboundStatus.PARSED
    session.flush()
    log.info("imported %d score(s) from %s", len(rows), filename)
    return ImportResult(filename, item.id, imported=len(rows))


def import_scores(rt: Runtime, *, actor: str = ACTOR) -> list[ImportResult]:
    """Import every new score file under ``scores/`` in shared storage, each in its own transaction.

    A bad file is recorded (problem + failed inbound item), reported in the result and skipped on later runs
    until a corrected file (a new object version) arrives.
    """
    channel = rt.shared.channel
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
            if seen is not None and seen.status in (InboundStatus.PARSED, InboundStatus.FAILED):
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
                    data=data, purpose=InboundPurpose.SCORES, filename=obj.key,
                )
                for issue in failure.issues:
                    record_problem(session, code="scores.invalid", message=str(issue), inbound_item=archived.item,
                                   filename=obj.key)
                notify_refused(session, rt.season, obj.key, archived.item.id, failure)
                results.append(ImportResult(obj.key, archived.item.id, error=str(failure),
                                            issues=[str(i) for i in failure.issues]))
            log.warning("score file %s refused (%d issue(s))", obj.key, len(failure.issues))
    return results
