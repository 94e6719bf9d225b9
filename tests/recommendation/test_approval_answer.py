"""What moved out of the DAG file (issue 17): the approval step's answer mapping and document-number rule, the
approval question, the count of new candidates, and the score import's summary."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from award.recommendation.alerts import approval_form
from award.recommendation.approval import approval_request, doc_number, record_answer
from award.recommendation.ranking import new_candidates
from award.recommendation.scores import ImportResult, import_summary
from award.states import State
from award.store import session_scope
from award.store.models import Application, Package

from .factory import make_app


@pytest.mark.parametrize("given, expected", [
    ("45", "甘质强组办〔2023〕45号"),
    (" 45号 ", "甘质强组办〔2023〕45号"),
    ("甘质强组〔2023〕7号", "甘质强组〔2023〕7号"),
    ("", ""),
])
def test_doc_number_completes_a_bare_number_with_the_season_prefix(rt, given: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert doc_number(rt.season, given) == expected


def test_the_form_has_both_options_and_every_field_titled() -> None:
    form = approval_form()
    assert list(form["options"]) == ["approve", "reject"]
    assert set(form["fields"]) == {"approver", "opinion", "doc_number", "audit_doc_number"}
    assert all(set(f) == {"title", "description"} for f in form["fields"].values())


def test_an_answer_is_recorded_as_chosen(rt) -> None:  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        make_app(s, rt.season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=90)
    request = approval_request(rt)
    assert request["needed"] and request["subject"].startswith("推荐工作领导小组审定：")
    assert rt.season.award.name in request["subject"] and "拟推荐名单（共 1 个" in request["body"]
    options = approval_form()["options"]
    rejected = record_answer(rt, content_hash=request["content_hash"], answer={
        "chosen_options": [options["reject"]], "params_input": {"opinion": "补充材料"},
        "responded_by_user": {"id": "7", "name": "办公室"}})
    assert rejected is None
    approved = record_answer(rt, content_hash=request["content_hash"], answer={
        "chosen_options": [options["approve"]], "params_input": {"doc_number": "45", "audit_doc_number": " "},
        "responded_by_user": {"id": "7", "name": "办公室"}})
    with session_scope(rt.db_url) as s:
        package = s.get(Package, approved)
        assert package is not None
        assert (package.status, package.approved_by, package.manifest["doc_number"]) == (
            "approved", "办公室", "甘质强组办〔2023〕45号")
        assert package.manifest["audit_doc_number"] == "" and package.manifest["responded_by"] == "办公室"
        assert [p.status for p in s.scalars(select(Package).order_by(Package.version))] == ["rejected", "approved"]
        assert {a.state for a in s.scalars(select(Application))} == {"recommended"}


def test_new_candidates_counts_the_candidates_awaiting_publicity(rt) -> None:  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        assert new_candidates(s, rt) == 0
        make_app(s, rt.season, rt.blobs, n=1, state=State.CANDIDATE, score=90, materials=False)
        make_app(s, rt.season, rt.blobs, n=2, state=State.CANDIDATE_CONFIRMED, score=80, materials=False)
        assert new_candidates(s, rt) == 1


def test_import_summary() -> None:
    results = [ImportResult("scores/a.xlsx", 1, imported=3), ImportResult("scores/b.xlsx", 2, error="x", issues=["i"]),
               ImportResult("scores/c.xlsx", 3, skipped=True, error="old")]
    summary = import_summary(results)
    assert (summary["imported"], summary["refused"]) == (3, 1)
    assert "scores/b.xlsx（1）" in summary["reason"]
    assert import_summary([])["reason"] is None
