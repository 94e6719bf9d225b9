"""Status vocabularies live in award.enums, and code uses their members, never raw strings.

The scan reads the code (include/award, dags, plugins) without importing it: a string constant compared with,
assigned to, or passed as a status-like attribute (``x.status == "open"``, ``Model.purpose.in_(["scores"])``,
``status="sent"``) is a raw literal when it is a value of that attribute's vocabulary.
"""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path

import pytest

from award import enums as E
from award.store import models

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "include" / "award", ROOT / "dags", ROOT / "plugins"]

# attribute (or keyword, or variable) name -> the vocabularies its values come from
VOCABULARY_OF: dict[str, tuple[type[StrEnum], ...]] = {
    "state": (E.State,),
    "status": (E.InboundStatus, E.OpinionRequestStatus, E.WindowStatus, E.ObjectionStatus, E.PackageStatus,
               E.OutboxStatus),
    "channel": (E.SourceChannel, E.ApplicationChannel),
    "source_channel": (E.ApplicationChannel,),
    "purpose": (E.InboundPurpose, E.WindowPurpose),
    "outcome": (E.CheckOutcome,),
    "severity": (E.Severity,),
    "verdict": (E.Verdict,),
    "source": (E.OpinionSource,),
}
VALUES = {name: {member.value for vocab in vocabs for member in vocab} for name, vocabs in VOCABULARY_OF.items()}

def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.Set | ast.List):
        return [s for element in node.elts for s in _strings(element)]
    return []


def raw_literals(source: str) -> list[tuple[int, str, str]]:
    """(line, attribute, value) of every raw vocabulary literal in ``source``."""
    found: list[tuple[int, str, str]] = []

    def check(name: str | None, value: ast.AST, line: int) -> None:
        if name in VALUES:
            found.extend((line, name, s) for s in _strings(value) if s in VALUES[name])

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for side in sides:
                for other in sides:
                    if other is not side:
                        check(_name(side), other, node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                check(_name(target), node.value, node.lineno)
        elif isinstance(node, ast.keyword) and node.arg:
            check(node.arg, node.value, node.value.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"in_", "not_in"}:
            for arg in node.args:
                check(_name(node.func.value), arg, node.lineno)
    return found


def _scan() -> dict[str, list[tuple[int, str, str]]]:
    result = {}
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            if "migrations" in path.parts or path.name == "enums.py":
                continue
            hits = raw_literals(path.read_text(encoding="utf-8"))
            if hits:
                result[path.relative_to(ROOT).as_posix()] = hits
    return result


def test_no_raw_status_literals() -> None:
    found = _scan()
    assert not found, "use the award.enums member, not the raw string: " + "; ".join(
        f"{path}:{line} {attr}={value!r}" for path, hits in found.items() for line, attr, value in hits)


@pytest.mark.parametrize("snippet, expected", [
    ('if item.status == "parsed": pass', [(1, "status", "parsed")]),
    ('q.where(InboundItem.purpose.in_(["scores", "x"]))', [(1, "purpose", "scores")]),
    ('f(status="sent")', [(1, "status", "sent")]),
    ('req.status = "answered"', [(1, "status", "answered")]),
    ('if item.status == InboundStatus.PARSED: pass', []),
    ('if kind == "form": pass', []),  # material kinds are not a status vocabulary
])
def test_the_scan_finds_raw_literals(snippet: str, expected: list[tuple[int, str, str]]) -> None:
    assert raw_literals(snippet) == expected


def test_vocabularies_are_listed_and_their_values_distinct() -> None:
    members = [vocab for vocab in vars(E).values() if isinstance(vocab, type) and issubclass(vocab, StrEnum)
               and vocab is not StrEnum]
    assert set(members) == set(E.VOCABULARIES)
    for vocab in E.VOCABULARIES:
        assert len({m.value for m in vocab}) == len(vocab)


def test_model_columns_name_their_vocabulary() -> None:
    """Each status column's comment in award.store.models names an enum of award.enums (no drifting value lists)."""
    text = Path(models.__file__).read_text(encoding="utf-8")
    for column in ("status", "purpose", "verdict", "outcome", "severity"):
        for line in text.splitlines():
            if line.strip().startswith(f"{column}: Mapped[str]"):
                comment = line.split("#", 1)[-1].strip()
                assert comment.split()[0] in {v.__name__ for v in E.VOCABULARIES}, line
