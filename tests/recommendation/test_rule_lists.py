"""The package verification and the score-file check are ordered rule lists (issue 17): every rule is named,
says what it checks, and runs once; the gates come before the rules that read what they guard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest


def _lists() -> dict[str, Sequence[Callable[..., Any]]]:
    from award.recommendation.scores import SCORE_HEADER_RULES, SCORE_ROW_RULES
    from award.recommendation.verify import PACKAGE_RULES

    return {"package": PACKAGE_RULES, "header": SCORE_HEADER_RULES, "row": SCORE_ROW_RULES}


@pytest.mark.parametrize("name", ["package", "header", "row"])
def test_every_rule_is_named_documented_and_listed_once(name: str) -> None:
    rules = _lists()[name]
    names = [r.__name__ for r in rules]
    assert len(set(names)) == len(names)
    assert all(r.__doc__ and r.__doc__.strip() for r in rules), names


def test_gates_run_before_what_they_guard() -> None:
    names = [r.__name__ for r in _lists()["package"]]
    assert names[:4] == ["_rule_approved", "_rule_compiled", "_rule_content_unchanged", "_rule_zip_stored"]
    rows = [r.__name__ for r in _lists()["row"]]
    found = max(rows.index("_row_by_number"), rows.index("_row_by_code"))
    assert all(rows.index(n) > found for n in ("_row_name_agrees", "_row_scorable", "_row_once"))
    assert rows[-1] == "_row_once"  # a duplicate row still gets every other issue reported
