"""award demo play against a stand-in for Airflow's REST API: a failed run is reported (failed tasks, log tail),
retried once, then stops the play; --auto answers every field of a question and answers a re-asked one again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from award.demo.play import Player, PlayError


class FakeApi:
    """Runs whose states follow a script; questions that wait until answered."""

    def __init__(self, states: list[str], questions: list[dict[str, Any]] | None = None) -> None:
        self.states = states
        self.questions = questions or []
        self.cleared: list[str] = []
        self.answers: list[tuple[list[str], dict[str, Any]]] = []

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return [{"task_id": "approval", "map_index": -1, "state": "failed", "try_number": 1},
                {"task_id": "record_approval", "map_index": -1, "state": "upstream_failed", "try_number": 0}]

    def log_tail(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        return f"Traceback: {task_id} died"

    def clear_failed(self, dag_id: str, run_id: str) -> None:
        self.cleared.append(run_id)

    def waiting_questions(self) -> list[dict[str, Any]]:
        return list(self.questions)

    def answer(self, question: dict[str, Any], chosen: list[str], params_input: dict[str, Any]) -> bool:
        self.answers.append((chosen, params_input))
        return True


def _player(api: FakeApi, lines: list[str], auto: bool = True) -> Player:
    return Player(rt=None, api=api, clock_file=Path("clock.json"), maildir=Path("maildir"),  # type: ignore[arg-type]
                  auto=auto, timeout=60, poll=0, answer_after=0, out=lines.append)


def test_a_failed_run_is_reported_and_retried_once() -> None:
    lines: list[str] = []
    api = FakeApi(["running", "failed", "running", "success"])
    assert _player(api, lines).wait_run("recommendation", "r1") == "success"
    assert api.cleared == ["r1"]
    text = "\n".join(lines)
    assert "approval, record_approval" in text and "Traceback: approval died" in text and "重试一次" in text


def test_a_run_that_fails_twice_stops_the_play() -> None:
    lines: list[str] = []
    api = FakeApi(["failed"])
    with pytest.raises(PlayError, match="failed again: approval"):
        _player(api, lines).wait_run("recommendation", "r1")
    assert api.cleared == ["r1"]


def _question(created: str) -> dict[str, Any]:
    return {"task_instance": {"id": "ti-1", "try_number": 1, "dag_id": "publicity", "task_id": "decide",
                              "dag_run_id": "r1", "map_index": 0},
            "created_at": created, "subject": "公示异议待决定", "options": ["异议成立", "异议不成立"],
            "params": {"reason": {"value": None, "schema": {}, "description": None},
                       "submission_no": {"value": None, "schema": {}, "description": None}}}


def test_auto_answers_every_field_and_a_question_asked_again() -> None:
    lines: list[str] = []
    api = FakeApi(["success"], [_question("t1")])
    player = _player(api, lines)
    player.answer_questions()
    player.answer_questions()  # the same question: answered once
    api.questions = [_question("t2")]  # asked again (the answer was refused): answered again
    player.answer_questions()
    assert len(api.answers) == 2
    chosen, params = api.answers[0]
    assert chosen == ["异议不成立"] and set(params) == {"reason", "submission_no"} and params["reason"]
    api.questions = [_question("t3")]
    player.answer_questions()
    api.questions = [_question("t4")]  # three answers refused: the play stops instead of answering forever
    with pytest.raises(PlayError, match="refused 3 times"):
        player.answer_questions()


def test_without_auto_the_newcomer_is_told_what_to_answer() -> None:
    lines: list[str] = []
    api = FakeApi(["success"], [_question("t1")])
    _player(api, lines, auto=False).answer_questions()
    assert api.answers == [] and "Required Actions" in lines[0] and "异议不成立" in lines[0]
