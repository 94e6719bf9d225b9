"""templates/recommendation/messages.yaml renders the texts of award.recommendation.package, award.recommendation.ranking and award.recommendation.alerts as
before (keys, placeholders and leftovers are checked for every catalogue in test_messages.py)."""

from __future__ import annotations

from types import SimpleNamespace

from award.recommendation.package import PackageVerificationError, safe_name
from award.recommendation.proposal import Proposal
from award.recommendation.scores import COL_CODE, COL_NAME, COL_NUMBER, COL_SCORE, ScoreIssue
from award.templating import message

CATALOGUE = "recommendation"


def test_column_headers_come_from_the_yaml() -> None:
    assert (COL_NUMBER, COL_NAME, COL_CODE, COL_SCORE) == ("申报编号", "名称", "统一代码", "得分")


def test_rendered_texts_unchanged() -> None:
    assert safe_name(" . ") == "未命名"
    assert str(PackageVerificationError(["缺少文件：a&b.pdf", "材料包尚未生成"])) == (
        "推荐材料包校验未通过：缺少文件：a&b.pdf；材料包尚未生成"
    )
    cand = SimpleNamespace(nn=3, name="甲公司", category_label="组织", city="成都市", score=91.5, priority=True,
                           priority_basis="2021年某省人民政府质量奖")
    line = Proposal("s", [cand, SimpleNamespace(**{**vars(cand), "score": None, "priority": False})], "h", [])
    first, second = line.summary_lines()
    assert first == "03. 甲公司（组织，成都市，得分 91.5，优先推荐：2021年某省人民政府质量奖）"
    assert second == "03. 甲公司（组织，成都市，得分 -）"
    issue = ScoreIssue("得分.xlsx", 3, COL_SCORE, message(CATALOGUE, "ranking.scores.score_not_number", raw="x"))
    assert str(issue) == "得分.xlsx 第3行 列“得分”: 得分“x”不是数字"
    assert message(CATALOGUE, "ranking.scores.unsupported_type", suffix="") == (
        "不支持的文件类型 （无扩展名），应为 .xlsx 或 .csv"
    )
    assert message(CATALOGUE, "ranking.already_ranked", group="organization", ranked=["A1", "A2"],
                   reviewed=["A3"]) == "organization: 本组已排序（A1, A2 等），新的评审得分不能改变名单：A3"
    assert message(CATALOGUE, "alerts.overdue_text", deadline="2023-06-30 17:00", due="2023-06-27 09:00",
                   reason="未审定") == (
        "国家截止时间为 2023-06-30 17:00，计划报送时间 2023-06-27 09:00 已到，recommendation 流程尚未完成报送"
        "（未审定）。请立即在 Airflow 中检查审定、校验或报送步骤。"
    )
