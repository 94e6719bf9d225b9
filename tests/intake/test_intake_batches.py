"""Intake works in batches (read all, look up applicants at once, apply the batch at once; item by item in
savepoints when that fails): a failing submission leaves no trace but its problem, the others of its batch still
go in, and the next submission of the same applicant is not confused."""

from __future__ import annotations

import json
import mailbox

import pytest
from sqlalchemy import select

from award.clock import now
from award.demo.setup import build_message
from award.inbound.sources import MaildirSource, fetch_mail
from award.intake import process_pending
from award.intake.processing import Intake
from award.runtime import Runtime
from award.store.db import session_scope
from award.store.models import Applicant, Application, AuditEvent, InboundItem, Material, OutboxEmail, Problem
from tests.factories import make_application


@pytest.fixture()
def rt(fake_now, make_rt, tmp_path, season, db_url, monkeypatch) -> Runtime:
    fake_now("2023-05-20T10:00:00+08:00")
    return make_rt(db_url)


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

    crashed: list[int] = []  # the inbound item of the first copy processed: it fails every time
    real = Intake._note_channel

    def crash_first_copy(self, app, sub, *args):  # type: ignore[no-untyped-def]
        if app.applicant.name == first.name and (not crashed or crashed[0] == sub.items[0].id):
            crashed.append(sub.items[0].id)
            raise RuntimeError("boom")
        return real(self, app, sub, *args)

    monkeypatch.setattr(Intake, "_note_channel", crash_first_copy)
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    # the batch's first attempt is not counted; the failed item's sender is told it waits for staff
    assert result.failed == 1 and result.mails_queued == 4
    assert len(crashed) == 2  # once in the batch at once, once item by item
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
        assert sorted(m.application_id for m in mails if m.template != "intake_failed") == sorted(a.id for a in apps)
        [told] = [m for m in mails if m.template == "intake_failed"]
        assert told.to_addrs == [first.sender] and told.application_id is None
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "create")).all()) == 3


def _mailbox(tmp_path, season, count: int, seed: int):  # type: ignore[no-untyped-def]
    from award.demo.generator import generate

    gen = generate(tmp_path / "gen", count, seed, season=season, defect_share=0.0, channels=("mail",))
    (tmp_path / "maildir").mkdir()
    box = mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True)
    metas = [json.loads((tmp_path / "gen" / a.folder / "meta.json").read_text(encoding="utf-8"))
             for a in gen.applications]
    return gen, box, metas


def test_a_batch_goes_in_at_once_without_a_savepoint_per_submission(tmp_path, rt, season) -> None:
    from sqlalchemy import event

    from award.store.db import get_engine

    gen, box, metas = _mailbox(tmp_path, season, 6, 11)
    for app, meta in zip(gen.applications, metas, strict=True):
        box.add(build_message(meta, tmp_path / "gen" / app.folder, now()))
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    savepoints: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SAVEPOINT"):
            savepoints.append(statement)

    engine = get_engine(rt.db_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(rt.db_url) as s:
            result = process_pending(s, rt)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert result.applications_created == 6 and result.failed == 0 and result.mails_queued == 6
    assert len(savepoints) <= 2  # the batch's, the outbox's: not one or two per submission
    with session_scope(rt.db_url) as s:
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "create")).all()) == 6
        assert {a.state for a in s.scalars(select(Application))} == {"received"}


def test_the_same_applicant_twice_in_one_batch_joins_one_application(tmp_path, rt, season) -> None:
    gen, box, metas = _mailbox(tmp_path, season, 2, 12)
    first, meta = gen.applications[0], metas[0]
    folder = tmp_path / "gen" / first.folder
    box.add(build_message(meta, folder, now()))
    box.add(build_message(metas[1], tmp_path / "gen" / gen.applications[1].folder, now()))
    (folder / "证实性材料9-补充.pdf").write_bytes(b"%PDF-1.4\n% supplement\n%%EOF\n")
    later = dict(meta, attachments=[*meta["attachments"], "证实性材料9-补充.pdf"], message_id="<later@example.cn>")
    box.add(build_message(later, folder, now()))  # the same form again plus one new file, in the same batch
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
    with session_scope(rt.db_url) as s:
        result = process_pending(s, rt)
    assert result.applications_created == 2 and result.failed == 0
    with session_scope(rt.db_url) as s:
        app = s.scalars(select(Application).join(Applicant).where(Applicant.name == first.name)).one()
        names = sorted(m.filename for m in app.materials)
        assert names == sorted(later["attachments"])  # each file once: the repeated ones are identical content
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "create",
                                                      AuditEvent.entity_id == app.id)).all()) == 1
        keys = sorted(m.idempotency_key for m in s.scalars(select(OutboxEmail).where(OutboxEmail.application_id == app.id)))
        assert len(keys) == 2 and all(k.startswith(f"intake:ack:{app.id}:") for k in keys)


def test_a_number_taken_by_a_concurrent_run_fails_the_batch_over_to_item_by_item(fake_now, make_rt, tmp_path, season, pg_url,
                                                                                  monkeypatch, caplog) -> None:
    """Two intake runs at once (a manual run beside a scheduled one, on PostgreSQL): the other run commits the
    submission number this batch chose; the batch's flush hits the unique constraint, the batch is rolled back
    and applied item by item, which reads the numbers again. Nothing fails, no number is given twice."""

    fake_now("2023-05-20T10:00:00+08:00")
    rt = make_rt(pg_url)
    gen, box, metas = _mailbox(tmp_path, season, 3, 13)
    for app, meta in zip(gen.applications, metas, strict=True):
        box.add(build_message(meta, tmp_path / "gen" / app.folder, now()))
    with session_scope(pg_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))

    real = Intake._submission_no
    taken: list[str] = []

    def other_run_takes_it(self):  # type: ignore[no-untyped-def]
        no = real(self)
        if not taken:  # the other run commits the first number this batch chose
            taken.append(no)
            with session_scope(pg_url) as other:
                make_application(other, season, category="organization", key="91330100MA0000001X",
                                 name="另一批次单位", submission_no=no, channel="city", fields={}, received_at=now(),
                                 changed_at=now(), actor="other-run", reason="并发测试")
        return no

    monkeypatch.setattr(Intake, "_submission_no", other_run_takes_it)
    with session_scope(pg_url) as s, caplog.at_level("WARNING", logger="award.intake.processing"):
        result = process_pending(s, rt)
    assert result.applications_created == 3 and result.failed == 0 and result.mails_queued == 3
    assert any("failed (IntegrityError" in r.getMessage() and "one by one" in r.getMessage() for r in caplog.records)
    with session_scope(pg_url) as s:
        numbers = sorted(a.submission_no for a in s.scalars(select(Application)))
        assert numbers == ["GS-2023-0001", "GS-2023-0002", "GS-2023-0003", "GS-2023-0004"] and taken == ["GS-2023-0001"]
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "create")).all()) == 4
        assert len(s.scalars(select(Material.application_id).distinct()).all()) == 3
