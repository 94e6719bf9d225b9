"""The message catalogues (templates/<stage>/messages.yaml, in the core's or a stage's template folder): every key the
code uses exists with its placeholders, every message is used, no Chinese text is left in code; award.templating.message."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from jinja2 import Environment, meta
from jinja2.exceptions import UndefinedError

from award.intake.filetypes import type_label
from award.intake.unzip import check_standalone_file, safe_ooxml
from award.templating import message, message_catalogue, template_dirs

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "award"
# Message groups read another way than award.templating.message, by catalogue: the completeness rules' findings,
# words and material labels (award.completeness.rules.findings reads them; tests/completeness/test_rules.py renders every
# finding) and the staff report's words (award.completeness.report.texts; test_report_words_come_from_their_yaml).
OWN_READERS = {"completeness": {"rules", "material_labels", "words", "report"}}


def _catalogue_readers() -> dict[str, dict[str, str | None]]:
    """catalogue -> {module: the message group its ``_text`` helper reads}, derived from the code: every module of
    the package calling ``message_group("<catalogue>", "<group>")`` or ``message("<catalogue>", ...)``. So a new
    stage's catalogue and modules are checked without editing this test."""
    found: dict[str, dict[str, str | None]] = {path.parent.name: {} for folder in template_dirs() for path in folder.glob("*/messages.yaml")}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                continue
            catalogue = node.args[0].value
            if node.func.id == "message_group" and len(node.args) == 2 and isinstance(node.args[1], ast.Constant):
                group = f"{node.args[1].value}."
                readers = found.setdefault(catalogue, {})
                assert readers.get(module) in (None, group), (
                    f"{module}: one message group per module ({readers.get(module)} and {group})")
                readers[module] = group
            elif node.func.id == "message" and catalogue in found:
                found[catalogue].setdefault(module, None)  # message() only: its _text reads another catalogue
    return found


# catalogue (templates/<catalogue>/messages.yaml) -> {module: the message group its ``_text`` helper reads}
CATALOGUES = _catalogue_readers()
# message groups whose keys the code builds at run time without ``_text(f"group.{...}")`` (each group's completeness
# is tested where it is used: test_filetypes for the type labels, tests/unit/test_failures.py for the failure kinds);
# the f-string ones are found by _dynamic_prefixes
DYNAMIC_GROUPS = {"intake": ("filetype.type_labels.",), "ops": ("failure.what.", "failure.next.", "failure.rerun.")}
MODULES = {module: catalogue for catalogue, modules in CATALOGUES.items() for module in modules}
CJK = re.compile(r"[\u4e00-\u9fff]")
# Chinese literals kept in code on purpose, by module: a form value compared against ("是"), _dt_text's date
# format, and the regex that strips a 理由/原因 label from a department's reply (parsing input, not a message)
ALLOWED_LITERALS = {
    # by package folder: the literals may move between a stage's modules
    "intake/": {"是", "年", "月", "日"},
    "opinions/": {r"^[\s，,。.：:；;、]*(理由|原因)?[\s，,。.：:；;、是为]*"},
}


@cache
def _tree(module: str) -> ast.Module:
    """The parsed module (parsed once for all the tests here)."""
    return ast.parse((PACKAGE / module).read_text(encoding="utf-8"))


@cache
def _calls(catalogue: str) -> list[tuple[str, str, set[str], bool]]:
    """(module, key, keyword names, has **values) of each ``_text``/``message`` call with a literal key."""
    found = []
    for module, prefix in CATALOGUES[catalogue].items():
        tree = _tree(module)
        relays = _text_relays(module) if prefix is not None else set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in relays
                    and node.args and isinstance(node.args[0], ast.Constant)):  # e.g. check.add("key", ...)
                found.append((module, f"{prefix}{node.args[0].value}", {k.arg for k in node.keywords if k.arg},
                              any(k.arg is None for k in node.keywords)))
                continue
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or not node.args:
                continue
            if node.func.id == "_text" and prefix is not None and isinstance(node.args[0], ast.Constant):
                key = prefix + node.args[0].value
            elif (node.func.id == "message" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                  and isinstance(node.args[0], ast.Constant) and node.args[0].value == catalogue):
                key = node.args[1].value
            else:
                continue
            names = {k.arg for k in node.keywords if k.arg is not None}
            found.append((module, key, names, any(k.arg is None for k in node.keywords)))
    return found


@cache
def _text_relays(module: str) -> set[str]:
    """Methods that pass their first argument on as the ``_text`` key (``def add(self, key, **params)``)."""
    relays = set()
    for fn in ast.walk(_tree(module)):
        if isinstance(fn, ast.FunctionDef) and len(fn.args.args) > 1:
            key = fn.args.args[1].arg
            if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "_text" and c.args
                   and isinstance(c.args[0], ast.Name) and c.args[0].id == key for c in ast.walk(fn)):
                relays.add(fn.name)
    return relays


@cache
def _dynamic_prefixes(catalogue: str) -> frozenset[str]:
    """Key prefixes of ``_text(f"group.{value}")`` calls: the code picks the key at run time (e.g. a channel label)."""
    found = set(DYNAMIC_GROUPS.get(catalogue, ()))
    for module, prefix in CATALOGUES[catalogue].items():
        if prefix is None:
            continue
        for node in ast.walk(_tree(module)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_text"
                    and node.args and isinstance(node.args[0], ast.JoinedStr) and node.args[0].values
                    and isinstance(lead := node.args[0].values[0], ast.Constant) and str(lead.value).endswith(".")):
                found.add(prefix + str(lead.value))
    return frozenset(found)


def _messages(node: object, prefix: str = "") -> dict[str, str]:
    if isinstance(node, str):
        return {prefix: node}
    assert isinstance(node, dict), prefix
    out: dict[str, str] = {}
    for key, value in node.items():
        out.update(_messages(value, f"{prefix}.{key}" if prefix else key))
    return out


def _catalogue_messages(catalogue: str) -> dict[str, str]:
    """The messages of a catalogue that code reads through award.templating (the OWN_READERS groups left out)."""
    own = OWN_READERS.get(catalogue, set())
    return _messages({group: node for group, node in message_catalogue(catalogue).items() if group not in own})


def _placeholders(text: str) -> set[str]:
    return meta.find_undeclared_variables(Environment().parse(text))


@pytest.mark.parametrize("catalogue", CATALOGUES)
def test_every_key_used_in_code_exists_with_its_placeholders(catalogue: str) -> None:
    calls = _calls(catalogue)
    messages = _catalogue_messages(catalogue)
    dynamic = tuple(_dynamic_prefixes(catalogue))
    static = [k for k in messages if not k.startswith(dynamic)]
    for prefix in dynamic:
        assert any(k.startswith(prefix) for k in messages), f"templates/{catalogue}/messages.yaml: no {prefix}* keys"
    assert len(calls) >= min(6, len(static)), f"{catalogue}: the scan found too few calls: did the helpers change name?"
    for module, key, names, spread in calls:
        assert key in messages, f"{module}: {key} is not in templates/{catalogue}/messages.yaml"
        wanted = _placeholders(messages[key])
        if spread:  # **ctx may carry more than the message uses: the named values must be placeholders
            assert names <= wanted, f"{module}: {key} is given {sorted(names - wanted)}, its text lacks them"
        else:
            assert names == wanted, f"{module}: {key} gets {sorted(names)}, its text uses {sorted(wanted)}"


@pytest.mark.parametrize("catalogue", CATALOGUES)
def test_every_message_is_used(catalogue: str) -> None:
    used = {key for _module, key, _names, _spread in _calls(catalogue)}
    messages = _catalogue_messages(catalogue)
    unused = {k for k in messages if not k.startswith(tuple(_dynamic_prefixes(catalogue)))} - used
    assert not unused, f"templates/{catalogue}/messages.yaml: messages no code uses: {sorted(unused)}"


def _chinese_literals(module: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant with Chinese in ``module``, docstrings left out."""
    tree = _tree(module)
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


@pytest.mark.parametrize("module", [*MODULES, "completeness/report.py"])
def test_no_chinese_messages_left_in_code(module: str) -> None:
    allowed = set().union(*(texts for folder, texts in ALLOWED_LITERALS.items() if module.startswith(folder)))
    for lineno, text in _chinese_literals(module):
        assert text in allowed, f"{module}:{lineno}: {text!r}"


def test_every_catalogue_is_found_and_read() -> None:
    """The derivation above finds the shipped catalogues, and every catalogue has code reading it."""
    assert {"intake", "recommendation", "opinions", "publicity", "completeness", "cli", "ops", "process", "outbox",
            "desk", "withdrawal"} <= set(CATALOGUES)
    assert CATALOGUES["intake"]["intake/unzip.py"] == "archive." and "recommendation/alerts.py" in CATALOGUES["recommendation"]
    for catalogue, readers in CATALOGUES.items():
        assert any((d / catalogue / "messages.yaml").exists() for d in template_dirs()), f"{catalogue}: read by {sorted(readers)}, no file"
        assert readers, f"templates/{catalogue}/messages.yaml: no module reads it through award.templating"
    for catalogue, groups in OWN_READERS.items():  # the groups read another way are there (no stale exemption)
        assert groups <= set(message_catalogue(catalogue)), f"{catalogue}: {sorted(groups - set(message_catalogue(catalogue)))}"


def test_report_words_come_from_their_yaml() -> None:
    from award.completeness.report import columns, texts

    assert columns()[:2] == ["submission_no", "name"] and texts()["columns"]["state"] == "状态"
    assert texts()["file_stem"] == "形式审查情况"


def test_missing_key_names_catalogue_and_key() -> None:
    with pytest.raises(KeyError, match=r"templates/intake/messages\.yaml.*archive\.no_such_message"):
        message("intake", "archive.no_such_message", name="x")
    with pytest.raises(KeyError, match=r"archive\.ooxml.*group"):
        message("intake", "archive.ooxml")
    with pytest.raises(FileNotFoundError):
        message("no_such_catalogue", "a.b")


def test_message_renders_placeholders_as_plain_text() -> None:
    text = message("intake", "archive.encrypted", name="A&B<材料>.zip")
    assert text == "压缩包“A&B<材料>.zip”设置了密码，无法打开；请取消密码后重新压缩提交。"
    assert message("intake", "filetype.mismatch", name="x", ext="", label="PDF文档").startswith(
        "附件“x”的扩展名为（无扩展名），但实际内容是PDF文档"
    )
    assert message("intake", "intake.channel_list", labels=["电子邮件", "市州推荐（共享存储）"]) == (
        "电子邮件和市州推荐（共享存储）"
    )
    with pytest.raises(UndefinedError):  # a placeholder the caller forgot is an error, not an empty string
        message("intake", "archive.encrypted")


def test_messages_in_use() -> None:
    assert type_label("zip") == "ZIP压缩包" and type_label("no_such_type") == "no_such_type"
    refusal = check_standalone_file("证明&附件.pdf", b"")
    assert refusal is not None and refusal.reason_text_zh == "附件“证明&附件.pdf”是空文件（0字节），请重新提交完整的文件。"
    assert safe_ooxml(b"not a zip") == "文档“文档”已损坏，无法打开，请重新保存后提交。"
