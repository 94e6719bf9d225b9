"""The stage message catalogues (templates/{opinions,publicity,correction}/messages.yaml) and their use in code."""

from __future__ import annotations

import ast
from datetime import date

import pytest

from award.templating import message, message_catalogue
from tests.unit.test_messages import CJK, PACKAGE, _messages, _placeholders

# module -> (catalogue, the message group its ``_text`` helper reads)
SOURCES = {"opinions.py": ("opinions", "opinions."), "publicity.py": ("publicity", "publicity."),
           "correction.py": ("correction", "correction.")}
# Chinese literals kept in code on purpose: the regex that strips a 理由/原因 label from a department's reply
# (parsing input, not a message anyone reads)
ALLOWED_LITERALS = {"opinions.py": {r"^[\s，,。.：:；;、]*(理由|原因)?[\s，,。.：:；;、是为]*"}}


def _calls(module: str) -> list[tuple[str, set[str], bool]]:
    """(key, keyword names, has **values) of each ``_text``/``message`` call with a literal key in ``module``."""
    catalogue, prefix = SOURCES[module]
    found = []
    for node in ast.walk(ast.parse((PACKAGE / module).read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or not node.args:
            continue
        if node.func.id == "_text" and isinstance(node.args[0], ast.Constant):
            key = prefix + node.args[0].value
        elif (node.func.id == "message" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[0], ast.Constant) and node.args[0].value == catalogue):
            key = node.args[1].value
        else:
            continue
        names = {k.arg for k in node.keywords if k.arg is not None}
        found.append((key, names, any(k.arg is None for k in node.keywords)))
    return found


@pytest.mark.parametrize("module", SOURCES)
def test_every_key_used_in_code_exists_with_its_placeholders(module: str) -> None:
    catalogue_name, _prefix = SOURCES[module]
    calls = _calls(module)
    assert len(calls) > 5, f"{module}: the scan found too few calls: did the helper change name?"
    catalogue = _messages(message_catalogue(catalogue_name))
    for key, names, spread in calls:
        assert key in catalogue, f"{module}: {key} is not in templates/{catalogue_name}/messages.yaml"
        wanted = _placeholders(catalogue[key])
        if spread:
            assert names <= wanted, f"{module}: {key} is given {sorted(names - wanted)}, its text lacks them"
        else:
            assert names == wanted, f"{module}: {key} gets {sorted(names)}, its text uses {sorted(wanted)}"


@pytest.mark.parametrize("module", SOURCES)
def test_every_message_is_used(module: str) -> None:
    catalogue_name, _prefix = SOURCES[module]
    used = {key for key, _names, _spread in _calls(module)}
    unused = set(_messages(message_catalogue(catalogue_name))) - used
    assert not unused, f"templates/{catalogue_name}/messages.yaml: messages no code uses: {sorted(unused)}"


def _chinese_literals(module: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant with Chinese in ``module``, docstrings left out."""
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and CJK.search(node.value)]


@pytest.mark.parametrize("module", SOURCES)
def test_no_chinese_messages_left_in_code(module: str) -> None:
    allowed = ALLOWED_LITERALS.get(module, set())
    for lineno, text in _chinese_literals(module):
        assert text in allowed, f"{module}:{lineno}: {text!r}"


def test_messages_render_as_before() -> None:
    """The texts the f-strings and concatenations used to build, byte for byte."""
    assert message("opinions", "opinions.doc_number", prefix="质奖函〔2023〕", count=3) == "质奖函〔2023〕3号"
    assert message("opinions", "opinions.filenames.letter", season_label="第五届中国质量奖", token="YJ-1") == (
        "关于征求第五届中国质量奖推荐对象意见的函（YJ-1）.docx"
    )
    assert message("opinions", "opinions.filenames.sheet", token="A&B") == "征求意见回复表（A&B）.xlsx"
    assert message("opinions", "opinions.reason.reopened", late=True) == "收到部门逾期异议意见，重新研究决定"
    assert message("opinions", "opinions.reason.reopened", late=False) == "收到部门异议意见，重新研究决定"
    assert message("opinions", "opinions.reason.default_applied", meaning="无异议") == (  # not the code no_objection
        "逾期未回复，视为无异议"
    )
    assert message("publicity", "publicity.reason.upheld", reason="材料<不实>") == "公示异议成立：材料<不实>"
    assert message("publicity", "publicity.reason.listed", window_id=7) == "列入公示（公示 7）"
    assert message("correction", "correction.reason.closed_incomplete", due=date(2023, 6, 1).isoformat()) == (
        "逾期未补正（补正截止日期 2023-06-01）"
    )
