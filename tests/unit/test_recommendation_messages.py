"""templates/recommendation/messages.yaml: the texts of award.package, award.ranking and award.alerts."""

from __future__ import annotations

import ast
from types import SimpleNamespace

import pytest

from award.package import PackageVerificationError, Proposal, safe_name
from award.ranking import COL_CODE, COL_NAME, COL_NUMBER, COL_SCORE, ScoreIssue
from award.templating import message, message_catalogue
from tests.unit.test_messages import PACKAGE, _chinese_literals, _messages, _placeholders

CATALOGUE = "recommendation"
# module -> the message group its ``_text`` helper reads (alerts.py calls ``message`` directly)
SOURCES = {"package.py": "package.", "ranking.py": "ranking.", "alerts.py": "alerts."}
# Chinese literals kept in code on purpose: none (the column headers come from ranking.columns)
ALLOWED_LITERALS: set[str] = set()


def _calls() -> list[tuple[str, str, set[str], bool]]:
    """(module, key, keyword names, has **values) of each ``_text``/``message`` call with a literal key."""
    found = []
    for module, prefix in SOURCES.items():
        for node in ast.walk(ast.parse((PACKAGE / module).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or not node.args:
                continue
            if node.func.id == "_text" and isinstance(node.args[0], ast.Constant):
                key = prefix + node.args[0].value
            elif (node.func.id == "message" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                  and isinstance(node.args[0], ast.Constant) and node.args[0].value == CATALOGUE):
                key = node.args[1].value
            else:
                continue
            names = {k.arg for k in node.keywords if k.arg is not None}
            found.append((module, key, names, any(k.arg is None for k in node.keywords)))
    return found


def test_every_key_used_in_code_exists_with_its_placeholders() -> None:
    calls = _calls()
    assert len(calls) > 60, "the scan found too few calls: did the helpers change name?"
    catalogue = _messages(message_catalogue(CATALOGUE))
    for module, key, names, spread in calls:
        assert key in catalogue, f"{module}: {key} is not in templates/{CATALOGUE}/messages.yaml"
        wanted = _placeholders(catalogue[key])
        if spread:
            assert names <= wanted, f"{module}: {key} is given {sorted(names - wanted)}, its text lacks them"
        else:
            assert names == wanted, f"{module}: {key} gets {sorted(names)}, its text uses {sorted(wanted)}"


def test_every_message_is_used() -> None:
    used = {key for _module, key, _names, _spread in _calls()}
    unused = set(_messages(message_catalogue(CATALOGUE))) - used
    assert not unused, f"messages no code uses: {sorted(unused)}"


@pytest.mark.parametrize("module", list(SOURCES))
def test_no_chinese_messages_left_in_code(module: str) -> None:
    for lineno, text in _chinese_literals(module):
        assert text in ALLOWED_LITERALS, f"{module}:{lineno}: {text!r}"


def test_column_headers_come_from_the_yaml() -> None:
    assert (COL_NUMBER, COL_NAME, COL_CODE, COL_SCORE) == ("申报编号", "名称", "统一代码", "得分")


def test_rendered_texts_unchanged() -> None:
    assert safe_name(" . ") == "未命名"
    assert str(PackageVerificationError(["缺少文件：a&b.pdf", "材料包尚未生成"])) == (
        "推荐材料包校验未通过：缺少文件：a&b.pdf；材料包尚未生成"
    )
    cand = SimpleNamespace(nn=3, name="甲公司", category_label="组织", city="成都市", score=91.5, priority=True,
                           placement="award")
    line = Proposal("s", [cand, SimpleNamespace(**{**vars(cand), "score": None, "priority": False})], "h", [])
    first, second = line.summary_lines()
    assert first.startswith("03. 甲公司（组织，成都市，得分 91.5，省质量奖获奖优先，") and first.endswith("）")
    assert second.startswith("03. 甲公司（组织，成都市，得分 -，") and "优先" not in second
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
