"""`award withdraw` and award.withdrawal: the applicant's written request, audited, archived, confirmed once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from award.cli import main
from award.store import session_scope
from award.store.models import Application, AuditEvent, OutboxEmail
from tests.desk.conftest import Desk


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_award_withdraw(desk: Desk, tmp_path, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWARD_DB_URL", desk.url)
    monkeypatch.setenv("AWARD_BLOB_URL", str(desk.blobs.root))
    letter = tmp_path / "撤回申请.pdf"
    letter.write_bytes(b"%PDF-1.4 please withdraw")
    no = desk.seeded.dept_objection
    code, out = _run(capsys, "withdraw", no, "--actor", "李处长", "--reference", "5月20日来函", "--request",
                     str(letter), "--json")
    assert code == 0 and out["from_state"] == "dept_objection" and out["changed"] and desk.blobs.exists(
        out["request_sha256"])
    code, out = _run(capsys, "withdraw", no, "--actor", "李处长", "--reference", "again", "--json")
    assert code == 0 and not out["changed"]  # idempotent
    code, out = _run(capsys, "withdraw", no, "--actor", "李处长", "--reference", " ", "--json")
    assert code == 2 and out["field"] == "reference"
    code, out = _run(capsys, "withdraw", "GS-1900-0001", "--actor", "x", "--reference", "r", "--json")
    assert code == 2 and out["field"] == "submission_no"
    with session_scope(desk.url) as session:
        app = session.scalar(select(Application).where(Application.submission_no == no))
        assert app.state == "withdrawn"
        assert session.scalar(select(func.count()).select_from(OutboxEmail).where(
            OutboxEmail.application_id == app.id, OutboxEmail.template == "withdrawn")) == 1
        actors = set(session.scalars(select(AuditEvent.actor).where(
            AuditEvent.entity_id == app.id, AuditEvent.action.in_(("transition", "withdrawal_request")),
            AuditEvent.to_state.is_distinct_from("dept_objection"))))
        assert "李处长" in actors
