"""Failure notices tell a clerk what went wrong, what it concerns and what to do (award.failures, pipeline_common)."""

from __future__ import annotations

from types import SimpleNamespace

from award.failures import describe, failure_mail
from award.opinions.clearing import OpinionError
from award.storage.blobs import BlobCorrupt


def test_a_domain_error_is_told_in_chinese_with_its_application_and_next_step() -> None:
    note = describe(OpinionError("decision: the reason is required (GS-2023-0017)"), dag_id="opinions",
                    task_id="decision.apply_decision")
    assert note.kind == "opinions" and note.about == "GS-2023-0017"
    assert "理由不能为空" in note.next_step and "重新触发 opinions" in note.next_step
    subject, html = failure_mail(note, dag_id="opinions", task_id="decision.apply_decision", run_id="r1",
                                 try_number=1)
    assert subject.startswith("【中国质量奖推荐流水线】任务失败：opinions.decision.apply_decision") and "GS-2023-0017" in subject
    assert "征求意见环节" in html and "下一步" in html and "请在 Airflow 中查看日志" not in html


def test_a_blob_error_is_never_the_applicants_fault_and_the_error_text_is_masked_and_escaped() -> None:
    exc = BlobCorrupt("abc", "def")
    note = describe(exc, dag_id="completeness", task_id="check_batch")
    assert note.kind == "blob" and "不是申报对象的责任" in note.what and "award blobs verify" in note.next_step
    note = describe(RuntimeError("mismatch for <b> 13812345678 110101199003077777"), dag_id="completeness",
                    task_id="check_batch")
    assert "13812345678" not in note.detail and "110101199003077777" not in note.detail
    _subject, html = failure_mail(note, dag_id="completeness", task_id="check_batch")
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert "清除" in note.next_step  # the default way to run a task again


def test_an_unknown_error_and_a_missing_exception_still_say_what_to_do() -> None:
    assert describe(RuntimeError("boom"), dag_id="x", task_id="y").kind == "unknown"
    note = describe(None, dag_id="intake", task_id="fetch_mail")
    assert note.kind == "unknown" and note.next_step and note.detail == ""


def test_the_dag_failure_notifier_renders_the_note(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pipeline_common

    notifier = pipeline_common.failure_notice()
    ti = SimpleNamespace(dag_id="opinions", task_id="decision.apply_decision", run_id="scheduled__1", try_number=3)
    notifier.render_template_fields({"ti": ti, "exception": OpinionError("decision: the reason is required")})
    assert "征求意见环节" in notifier.html_content and "尝试次数：3" in notifier.html_content
    assert notifier.subject == "【中国质量奖推荐流水线】任务失败：opinions.decision.apply_decision"


def test_every_failure_kind_has_its_words() -> None:
    from award.failures import KINDS
    from award.templating import message_catalogue

    words = message_catalogue("ops")["failure"]
    kinds = set(KINDS.values()) | {"unknown"}
    assert set(words["what"]) == kinds and set(words["next"]) == kinds
    assert "default" in words["rerun"]
