"""Importing the review agency's score files: all-or-nothing, errors naming file, row and column."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from award.recommendation.scores import ScoreFileError, import_score_data, import_scores
from award.states import State
from award.store import session_scope
from award.store.models import Application, InboundItem, Problem, ReviewScore

from .factory import make_app

HEADER = ["申报编号", "名称", "统一代码", "得分"]


def xlsx(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv(rows: list[list[object]], header: list[str] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


@pytest.fixture()
def three(rt):  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        return [make_app(s, rt.season, rt.blobs, n=i, materials=False) for i in (1, 2, 3)]


def states(rt) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        return {a.submission_no: a.state for a in s.scalars(select(Application))}


def test_good_xlsx_imports_and_moves_to_reviewed(rt, three) -> None:  # type: ignore[no-untyped-def]
    rows = [[m.submission_no, m.name, m.key, 80 + i] for i, m in enumerate(three)]
    rt.shared.write("scores/第三方评审得分.xlsx", xlsx(rows))
    results = import_scores(rt)
    assert [(r.imported, r.error) for r in results] == [(3, None)]
    assert set(states(rt).values()) == {"reviewed"}
    with session_scope(rt.db_url) as s:
        assert sorted(r.score for r in s.scalars(select(ReviewScore))) == [80, 81, 82]
        item = s.scalars(select(InboundItem)).one()
        assert item.purpose == "scores" and item.status == "parsed"
    assert import_scores(rt)[0].skipped  # the same object version is not taken twice


def test_csv_in_gb18030_by_code_only(rt, three) -> None:  # type: ignore[no-untyped-def]
    rows = [["", m.name, m.key, "75.5"] for m in three]
    rt.shared.write("scores/scores.csv", csv(rows, encoding="gb18030"))
    from award.config import Scores

    season = rt.season.model_copy(update={"scores": Scores(required_columns=["名称", "统一代码", "得分"])})
    rt.season = season
    assert import_scores(rt)[0].imported == 3


@pytest.mark.parametrize(
    ("rows", "header", "row", "column", "text"),
    [
        ([["{0}", "{1}", "{2}", "abc"]], HEADER, 2, "得分", "不是数字"),
        ([["{0}", "{1}", "{2}", 1200]], HEADER, 2, "得分", "超出范围"),
        ([["{0}", "{1}", "{2}", 80], ["{0}", "{1}", "{2}", 81]], HEADER, 3, "申报编号", "重复"),
        ([["GS99999999", "某单位", "", 80]], HEADER, 2, "申报编号", "不存在"),
        ([["{0}", "{1}", "{2}"]], HEADER[:3], 1, "得分", "缺少必需的列"),
        ([["{0}", "别的名字", "{2}", 80]], HEADER, 2, "名称", "不一致"),
        ([["{0}", "{1}", "{2}", ""]], HEADER, 2, "得分", "必填项为空"),
    ],
)
def test_bad_file_names_file_row_column_and_imports_nothing(rt, three, rows, header, row, column, text) -> None:  # type: ignore[no-untyped-def]
    m = three[0]
    good = [[x.submission_no, x.name, x.key, 90] for x in three[1:]]  # good rows in the same file
    body = [[str(v).format(m.submission_no, m.name, m.key) for v in r] for r in rows]
    if len(header) == 4:
        body = body + good
    rt.shared.write("scores/bad.xlsx", xlsx(body, header))
    results = import_scores(rt)
    assert results[0].imported == 0 and results[0].error
    assert f"scores/bad.xlsx 第{row}行 列“{column}”" in results[0].error and text in results[0].error
    assert set(states(rt).values()) == {"publicity_passed"}  # nothing imported, not even the good rows
    with session_scope(rt.db_url) as s:
        assert s.scalars(select(ReviewScore)).all() == []
        item = s.scalars(select(InboundItem)).one()
        assert item.status == "failed" and item.purpose == "scores"
        assert any(f"第{row}行" in p.message for p in s.scalars(select(Problem)))
    assert import_scores(rt)[0].skipped  # not retried until a corrected file arrives


def test_error_object_carries_file_row_column(rt, three) -> None:  # type: ignore[no-untyped-def]
    data = xlsx([[three[0].submission_no, three[0].name, three[0].key, -1]])
    with session_scope(rt.db_url) as s, pytest.raises(ScoreFileError) as info:
        import_score_data(s, rt.blobs, season=rt.season, data=data, filename="s.xlsx")
    assert (info.value.file, info.value.row, info.value.column) == ("s.xlsx", 2, "得分")


def test_wrong_state_is_refused(rt) -> None:  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        m = make_app(s, rt.season, rt.blobs, n=1, state=State.IN_PUBLICITY, materials=False)
    rt.shared.write("scores/s.xlsx", xlsx([[m.submission_no, m.name, m.key, 80]]))
    result = import_scores(rt)[0]
    assert "第2行 列“申报编号”" in result.error and "不可评分" in result.error


def test_unreadable_and_unsupported_files(rt, three) -> None:  # type: ignore[no-untyped-def]
    rt.shared.write("scores/broken.xlsx", b"not a spreadsheet")
    rt.shared.write("scores/notes.txt", b"ignored")
    results = import_scores(rt)
    assert len(results) == 1 and "无法读取" in results[0].error


# ---------------------------------------------------------------- issue 15 §3: what the office sends out
@pytest.fixture()
def mixed(rt):  # type: ignore[no-untyped-def]
    """An organisation, a team (key code/名称) and an individual, all waiting for their score."""
    with session_scope(rt.db_url) as s:
        return [make_app(s, rt.season, rt.blobs, n=1, materials=False),
                make_app(s, rt.season, rt.blobs, n=2, category="team", materials=False,
                         key="91330100MA0000002X/精益质量QC小组", name="精益质量QC小组"),
                make_app(s, rt.season, rt.blobs, n=3, category="individual", materials=False)]


def test_score_sheet_template_is_generated_from_the_list_and_imports_once_filled(rt, mixed) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    from award.recommendation.score_sheet import score_sheet_key, write_score_sheet

    out = write_score_sheet(rt)
    assert out == {"key": score_sheet_key(rt.season), "rows": 3, "written": True}
    assert not out["key"].startswith("scores/")  # the import never mistakes the template for a score file
    assert write_score_sheet(rt)["written"] is False  # same list: not rewritten
    wb = load_workbook(io.BytesIO(rt.shared.read(out["key"])))
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == ["申报编号", "名称", "统一代码", "类别", "得分"]
    by_no = {r[0]: r for r in rows[1:]}
    org, team, person = mixed
    assert by_no[org.submission_no][1:3] == [org.name, org.key]
    assert by_no[team.submission_no][2] == "91330100MA0000002X"  # a team by its unit's code alone
    assert by_no[person.submission_no][2] == "330***********003X"  # ID numbers go out masked
    assert person.key not in str(rows)
    assert all(r[4] is None for r in rows[1:])  # the agency fills only the scores
    assert ws.protection.sheet and not ws.cell(row=2, column=5).protection.locked
    assert ws.cell(row=2, column=3).protection.locked
    assert "填写说明" in wb.sheetnames
    # the agency fills in the scores and sends the sheet back as it is
    for i, r in enumerate(range(2, 5)):
        ws.cell(row=r, column=5, value=900 + i)
    buf = io.BytesIO()
    wb.save(buf)
    rt.shared.write("scores/第三方评审得分表-已填.xlsx", buf.getvalue())
    (result,) = import_scores(rt)
    assert (result.imported, result.error) == (3, None)
    assert set(states(rt).values()) == {"reviewed"}


def test_codes_as_sent_out_and_blank_codes_are_accepted(rt, mixed) -> None:  # type: ignore[no-untyped-def]
    org, team, person = mixed
    rows = [[org.submission_no, org.name, "", 80],  # blank code
            [team.submission_no, team.name, "91330100MA0000002X/精益质量QC小组", 81],  # code/名称
            [person.submission_no, person.name, "330***********003X", 82]]  # masked ID number
    rt.shared.write("scores/s.xlsx", xlsx(rows))
    (result,) = import_scores(rt)
    assert (result.imported, result.error) == (3, None)
    with session_scope(rt.db_url) as s:
        assert sorted(r.score for r in s.scalars(select(ReviewScore))) == [80, 81, 82]


def test_a_wrong_masked_code_is_still_refused(rt, mixed) -> None:  # type: ignore[no-untyped-def]
    person = mixed[2]
    rt.shared.write("scores/s.xlsx", xlsx([[person.submission_no, person.name, "330***********999X", 82]]))
    (result,) = import_scores(rt)
    assert "第2行 列“统一代码”" in result.error and "不一致" in result.error


def test_a_refused_file_mails_ops_every_problem_with_row_and_column(rt, mixed) -> None:  # type: ignore[no-untyped-def]
    from award.recommendation.scores import refused_summary
    from award.store.models import OutboxEmail

    org, team, person = mixed
    rows = [[org.submission_no, org.name, "", "八十"], [team.submission_no, "别的班组", "", 81],
            ["GS99999999", "某单位", "", 82]]
    rt.shared.write("scores/bad.xlsx", xlsx(rows))
    results = import_scores(rt)
    assert results[0].refused and len(results[0].issues) == 3
    reason = refused_summary(results)
    assert reason is not None and "scores/bad.xlsx（3）" in reason
    with session_scope(rt.db_url) as s:
        (notice,) = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "staff_notice")).all()
        assert notice.to_addrs == [str(rt.season.recommending_unit.ops_email)]
        assert "评审得分表 scores/bad.xlsx 未能导入（3 个问题）" in notice.subject
        for where in ("第2行 列“得分”", "第3行 列“名称”", "第4行 列“申报编号”"):
            assert where in notice.body_text
        problems = [p.message for p in s.scalars(select(Problem))]
        assert len(problems) == 3 and all("scores/bad.xlsx 第" in p for p in problems)  # for the desk
    again = import_scores(rt)
    assert again[0].skipped and not again[0].refused and refused_summary(again) is None  # one mail, one failed run
