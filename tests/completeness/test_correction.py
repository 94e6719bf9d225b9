"""The correction loop's details: idempotent mails, deadlines, partial corrections, reminders, history."""

from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import func, select

from award.completeness.correction import run_checks, sweep_deadlines
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.models import Application, AuditEvent, CheckRun, OutboxEmail
from tests.completeness.helpers import add_material, load_generated, read_files


@pytest.fixture()
def one_app(clean_set, tmp_path, sqlite_url, season, fake_now):  # type: ignore[no-untyped-def]
    """The clean organisation application in a fresh store, without its publicity proof and PDF copy."""
    import json
    import shutil

    root, entry = clean_set["organization"]
    sub = tmp_path / "gen"
    keep = [f for f in entry["files"] if "内部公示" not in f and not f.endswith("-申报表.pdf")]
    for rel in keep:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, sub / rel)
    manifest = {"applications": [{**entry, "files": keep, "channel": "mail"}], "city_letters": {}}
    (sub / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    blobs = LocalBlobStore(tmp_path / "blobs")
    sessions = partial(session_scope, sqlite_url)
    with sessions() as session:
        (app_id,) = load_generated(session, blobs, season, sub).values()
    proof_rel = next(f for f in entry["files"] if "内部公示" in f)
    pdf_rel = next(f for f in entry["files"] if f.endswith("-申报表.pdf"))
    return sessions, blobs, app_id, read_files(root, [proof_rel, pdf_rel])


def _mails(sessions, template: str | None = None) -> list[OutboxEmail]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        stmt = select(OutboxEmail).order_by(OutboxEmail.id)
        if template:
            stmt = stmt.where(OutboxEmail.template == template)
        return list(session.scalars(stmt))


def test_same_problems_never_mail_twice_and_partial_correction_keeps_the_deadline(one_app, season, fake_now) -> None:
    sessions, blobs, app_id, files = one_app
    run_checks(sessions, season, blobs.get_bytes)
    (first,) = _mails(sessions, "correction")
    assert "内部公示情况说明" in first.body_text and "申报表 PDF 版" in first.body_text
    assert first.idempotency_key.startswith(f"checks:correction:{app_id}:")

    # an unrelated change (same problems): checked again, history kept, no second mail
    fake_now("2023-05-11T10:00:00")
    with sessions() as session:
        app = session.get(Application, app_id)
        add_material(session, blobs, app, "证实性材料9-补充.pdf", b"%PDF-1.4 extra evidence")
    assert run_checks(sessions, season, blobs.get_bytes).checked == 1
    assert len(_mails(sessions, "correction")) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CheckRun)) == 2
        assert session.get(Application, app_id).correction_due.isoformat() == "2023-05-17"

    # a partial correction: a new list -> a new notice, the same deadline
    fake_now("2023-05-12T10:00:00")
    name, data = next((n, d) for n, d in files.items() if "内部公示" in n)
    with sessions() as session:
        add_material(session, blobs, session.get(Application, app_id), name, data)
    run_checks(sessions, season, blobs.get_bytes)
    first, second = _mails(sessions, "correction")
    assert "内部公示情况说明" not in second.body_text and "申报表 PDF 版" in second.body_text
    assert "2023年5月17日" in second.body_text

    # fixed: complete, told once
    fake_now("2023-05-12T15:00:00")  # the frozen clock must move for changed_at > checked_at
    name, data = next((n, d) for n, d in files.items() if n.endswith(".pdf") and "内部公示" not in n)
    with sessions() as session:
        add_material(session, blobs, session.get(Application, app_id), name, data)
    run_checks(sessions, season, blobs.get_bytes)
    run_checks(sessions, season, blobs.get_bytes)
    (done,) = _mails(sessions, "complete")
    assert "经补正后已通过形式审查" in done.body_text
    with sessions() as session:
        app = session.get(Application, app_id)
        assert app.state == "complete"
        moves = [(e.from_state, e.to_state) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == app_id, AuditEvent.action == "transition")
            .order_by(AuditEvent.id))]
    assert moves == [("received", "incomplete"), ("incomplete", "complete")]


def test_deadline_never_after_the_provincial_deadline(one_app, season, fake_now) -> None:
    sessions, blobs, app_id, _ = one_app
    fake_now("2023-05-23T10:00:00")  # 5 working days later would be 2023-05-30
    run_checks(sessions, season, blobs.get_bytes)
    with sessions() as session:
        assert session.get(Application, app_id).correction_due.isoformat() == "2023-05-25"
    # notified after the reminder day (2023-05-23 is two working days before 05-25): no reminder
    fake_now("2023-05-24T09:00:00")
    assert sweep_deadlines(sessions, season).reminded == []
    fake_now("2023-05-26T09:00:00")
    assert sweep_deadlines(sessions, season).closed == [app_id]


def test_a_correction_waiting_for_its_check_is_not_closed(one_app, season, fake_now) -> None:
    sessions, blobs, app_id, files = one_app
    run_checks(sessions, season, blobs.get_bytes)
    fake_now("2023-05-17T16:00:00")  # arrives on the deadline day, checked only the next morning
    with sessions() as session:
        for name, data in files.items():
            add_material(session, blobs, session.get(Application, app_id), name, data)
    fake_now("2023-05-18T08:30:00")
    assert sweep_deadlines(sessions, season).waiting_for_check == [app_id]
    run_checks(sessions, season, blobs.get_bytes)
    with sessions() as session:
        assert session.get(Application, app_id).state == "complete"


def test_no_valid_address_is_audited_not_mailed(one_app, season) -> None:
    sessions, blobs, app_id, _ = one_app
    with sessions() as session:
        app = session.get(Application, app_id)
        app.fields = {**app.fields, "email": "not-an-address"}
        app.applicant.email = None
    run_checks(sessions, season, blobs.get_bytes)
    assert _mails(sessions) == []
    with sessions() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "mail_not_sent"))
        assert event is not None and event.details["template"] == "correction"


def test_a_corrupt_stored_file_is_an_ops_error_not_a_correction(one_app, season, fake_now) -> None:
    """The stored PDF copy was damaged: before, the applicant got a 补正 blaming their PDF."""
    from award.store.models import Problem

    sessions, blobs, app_id, files = one_app
    with sessions() as session:
        app = session.get(Application, app_id)
        for name, data in files.items():
            add_material(session, blobs, app, name, data)
        pdf = next(m for m in app.materials if m.kind == "form_pdf")
        blobs.path(pdf.sha256).write_bytes(b"%PDF-1.4 damaged on disk")
    summary = run_checks(sessions, season, blobs.get_bytes)
    assert summary.integrity_errors == [app_id] and summary.checked == 0
    assert _mails(sessions) == []  # nobody told the applicant anything
    with sessions() as session:
        assert session.get(Application, app_id).state == "received"
        assert session.scalar(select(func.count()).select_from(CheckRun)) == 0
        [problem] = session.scalars(select(Problem)).all()
        assert problem.code == "blob_corrupt" and "award blobs verify" in problem.message
    blobs.put_bytes(files[pdf.filename])  # archiving the original again repairs it; the next run checks normally
    assert run_checks(sessions, season, blobs.get_bytes).checked == 1


@pytest.mark.parametrize(("category", "word"), [("individual", "推荐表"), ("organization", "申报表")])
def test_the_correction_mail_names_the_form_as_the_notice_does(season, category: str, word: str) -> None:
    """附件5 is the individuals' 推荐表: the correction mail asks for its Word and PDF versions by that name."""
    from datetime import date
    from types import SimpleNamespace

    from award.completeness.correction import mail_context
    from award.mail.outbox import prepare

    app = SimpleNamespace(applicant=SimpleNamespace(name="张三"), submission_no="GS-2023-0004", category=category)
    context = mail_context(app, season, problems=[{"message": "缺少材料。", "fix": "请补充。"}], warnings=[],
                           deadline=date(2023, 5, 30), reply_to="zlfzj@example.com")
    body = prepare(key="k", template="correction", to=["a@example.com"], context=context).body
    assert f"如修改{word}，请同时提交 Word 版和 PDF 版" in body
