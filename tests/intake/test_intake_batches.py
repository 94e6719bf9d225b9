"""Intake works in batches (read all, look up applicants at once, apply each in a savepoint): a failing
submission leaves no trace but its problem, and the next submission of the same applicant is not confused."""

from __future__ import annotations

import json
import mailbox

import pytest
from sqlalchemy import select

from award.blobs import LocalBlobStore
from award.clock import now
from award.demo.setup import build_message
from award.intake import Intake, process_pending
from award.runtime import Runtime
from award.sources import MaildirSource, fetch_mail
from award.storage import LocalStorage
from award.store.db import session_scope
from award.store.models import Applicant, Application, AuditEvent, InboundItem, Material, OutboxEmail, Problem


@pytest.fixture()
def rt(tmp_path, season, db_url, monkeypatch) -> Runtime:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-20T10:00:00+08:00")
    return Runtime(season, db_url, LocalBlobStore(tmp_path / "blobs"), LocalStorage(tmp_path / "shared"))


def test_failed_submission_rolls_back_and_the_same_applicant_is_created_later(tmp_path, rt, season,
                                                                             monkeypatch) -> None:
    from award.demo.generator import generate

    gen = generate(tmp_path / "gen", 3, 5, season=season, defect_share=0.0, channels=("mail",))
    (tmp_path / "maildir").mkdir()
    box = mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True)
    first = gen.applications[0]
    meta = json.loads((tmp_path / "gen" / first.folder / "meta.json").read_text(encoding="utf-8"))
    raw = build_message(meta, tmp_path / "gen" / first.folder, now())
    box.add(raw)  # the first copy processed fails after its application was created
    for other in gen.applications[1:]:
        m = json.loads((tmp_path / "gen" / other.folder / "meta.json").read_text(encoding="utf-8"))
        box.add(build_message(m, tmp_path / "gen" / other.folder, now()))
    box.add(raw)  # the other copy (same batch; Maildir order is not fixed) must create it afresh

    crashed: list[int] = []
    real = Intake._note_channel

    def crash_once(self, app, sub):  # type: ignore[no-untyped-def]
        if app.applicant.name == first.name and not crashed:
            crashed.append(app.id)
            raise RuntimeError("boom")
        return real(self, app, sub)

    monkeypatch.setattr(Intake, "_note_channel", crash_once)
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    assert result.failed == 1 and result.mails_queued == 3  # (counters count attempts, as before)
    with session_scope(rt.db_url) as s:
        items = s.scalars(select(InboundItem).order_by(InboundItem.id)).all()
        [failed] = [i for i in items if i.status == "failed"]
        parsed = [i for i in items if i.status == "parsed"]
        assert len(parsed) == 3 and failed.application_id is None
        [problem] = s.scalars(select(Problem)).all()
        assert problem.code == "intake_error" and problem.inbound_item_id == failed.id
        apps = s.scalars(select(Application)).all()
        assert len(apps) == 3 and len(s.scalars(select(Applicant)).all()) == 3
        twin = next(i for i in parsed if i.sha256 == failed.sha256)
        retried = s.scalar(select(Application).where(Application.id == twin.application_id))
        assert retried is not None and retried.applicant.name == first.name
        assert {m.inbound_item_id for m in s.scalars(select(Material))} == {i.id for i in parsed}
        mails = s.scalars(select(OutboxEmail)).all()
        assert sorted(m.application_id for m in mails) == sorted(a.id for a in apps)
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "create")).all()) == 3
