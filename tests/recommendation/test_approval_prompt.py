"""The leadership group's approval prompt (HITL body) is Chinese throughout: no English reason or status (issue 15
§6, e.g. 「原因：new content」) in the prompt or in the export state's reason."""

from __future__ import annotations

import re

from award.recommendation.alerts import export_state
from award.recommendation.approval import approval_prompt, record_approval
from award.recommendation.proposal import pending_work
from award.states import State
from award.store import session_scope

from .factory import make_app

ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")


def _english(text: str, content_hash: str) -> list[str]:
    return ENGLISH_WORD.findall(text.replace(content_hash[:12], ""))


def test_prompt_and_reasons_have_no_english(rt) -> None:  # type: ignore[no-untyped-def]
    assert not ENGLISH_WORD.findall(pending_work(rt)["reason"])  # no candidates yet
    with session_scope(rt.db_url) as s:
        make_app(s, rt.season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=91)
    work = pending_work(rt)
    assert work["needed"]
    prompt = approval_prompt(work)
    assert "原因：新的推荐名单" in prompt and "上一版本：无" in prompt
    assert _english(prompt, work["content_hash"]) == []

    record_approval(rt, content_hash=work["content_hash"], approved=False, approver="张局长", opinion="补充说明",
                    doc_number="")
    with session_scope(rt.db_url) as s:
        make_app(s, rt.season, rt.blobs, n=2, state=State.CANDIDATE_CONFIRMED, score=90)
    work = pending_work(rt)
    prompt = approval_prompt(work)
    assert "第1版（未通过审定）" in prompt and "与第1版不同" in prompt
    assert _english(prompt, work["content_hash"]) == []
    assert not ENGLISH_WORD.findall(export_state(rt)["reason"])
