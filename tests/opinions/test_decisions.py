"""The ops answer, as the human-in-the-loop step returns it, read in the stage's terms (no database, no Airflow)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from award.opinions.clearing import OpinionError
from award.opinions.decisions import Answer, answer_from_hitl
from award.opinions.texts import decision_texts


def test_answer_from_hitl() -> None:
    at = datetime(2023, 5, 5, 2, 0, tzinfo=UTC)
    answer = answer_from_hitl({"chosen_options": ["取消推荐"], "params_input": {"reason": "欠税未缴清"},
                               "responded_by_user": {"id": "7", "name": "wang.ke"}, "responded_at": at})
    assert answer == Answer(choice="remove", reason="欠税未缴清", user="wang.ke", user_id="7", responded_at=at)
    bare = answer_from_hitl({"chosen_options": ["继续推荐"], "responded_by_user": {"id": "wang.ke"}})
    assert (bare.choice, bare.reason, bare.user, bare.user_id, bare.responded_at) == (
        "continue", "", "wang.ke", "wang.ke", None)


def test_answer_from_hitl_refuses_an_unknown_option() -> None:
    with pytest.raises(OpinionError, match="unknown decision option"):
        answer_from_hitl({"chosen_options": ["以后再说"]})
    assert list(decision_texts()["options"]) == ["continue", "remove"]
