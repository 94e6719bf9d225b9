"""Intake rules on generated applications: matching, versions, late, defence industry, multi-channel, refusals."""

from __future__ import annotations

import io
import json
import mailbox
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from award.blobs import LocalBlobStore
from award.demo.setup import build_message
from award.intake import kind_by_name, process_pending
from award.runtime import Runtime
from award.sources import MaildirSource, fetch_mail, fetch_storage
from award.storage import LocalStorage
from award.store.db import session_scope
from award.store.models import Application, AuditEvent, InboundItem, Material, OutboxEmail, Problem

IN_PERIOD = "2023-05-20T10:00:00+08:00"
AFTER = "2023-05-26T09:00:00+08:00"


@pytest.fixture()
def rt(tmp_path, season, sqlite_url, monkeypatch) -> Runtime:
    monkeypatch.setenv("AWARD_FAKE_NOW", IN_PERIOD)
    return Runtime(season, sqlite_url, LocalBlobStore(tmp_path / "blobs"), LocalStorage(tmp_path / "shared"))


@pytest.fixture()
def gen(tmp_path, season):  # type: ignore[no-untyped-def]
    from award.demo.generator import generate

    return generate(tmp_path / "gen", 4, 3, season=season, defect_share=0.0, channels=("mail",))


def _box(tmp_path: Path) -> mailbox.Maildir:
    (tmp_path / "maildir").mkdir(exist_ok=True)
    return mailbox.Maildir(str(tmp_path / "maildir" / "office"), create=True)


def _mail_of(tmp_path: Path, app, **changes) -> bytes:  # type: ignore[no-untyped-def]
    folder = tmp_path / "gen" / app.folder
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    meta.update(changes)
    from award.clock import now

    return build_message(meta, folder, now())


def _run(tmp_path: Path, rt: Runtime):  # type: ignore[no-untyped-def]
    with session_scope(rt.db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
        fetch_storage(s, rt)
    with session_scope(rt.db_url) as s:
        return process_pending(s, rt)


def _raw(subject: str, files: dict[str, bytes], sender: str = "a@example.com") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "zlfzc@scjg.example.gov.cn", subject
    msg.set_content("材料见附件")
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def test_kind_by_name() -> None:
    assert kind_by_name("某公司-申报表.docx") == "form"
    assert kind_by_name("内部公示情况说明.pdf") == "publicity_proof"
    assert kind_by_name("所在单位意见.pdf") == "unit_opinion"
    assert kind_by_name("杭州市推荐函.pdf") == "city_recommendation"
    assert kind_by_name("证实性材料1-认证证书.pdf") == "evidence"
    assert kind_by_name("照片.jpg") is None


def test_ack_numbers_reupload_supersedes_and_rerun_is_quiet(tmp_path, rt, gen) -> None:
    box = _box(tmp_path)
    first = gen.applications[0]
    box.add(_mail_of(tmp_path, first))
    result = _run(tmp_path, rt)
    assert result.applications_created == 1
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application))
        assert app.submission_no == "GS-2023-0001" and app.state == "received" and app.channel == "mail"
        [ack] = s.scalars(select(OutboxEmail)).all()
        assert ack.subject == "【第五届中国质量奖】申报材料已收到（GS-2023-0001）"
        assert ack.to_addrs == [first.sender]
        assert "申报表.docx" in ack.body_text and "KB" in ack.body_text
    assert _run(tmp_path, rt).as_dict()["items"] == 0  # nothing pending: nothing new

    # a corrected form, sent with the submission number in the subject, supersedes the old one (both kept)
    from award.forms import fill_form_bytes

    fields = dict(first.fields, summary=first.fields["summary"] + "（更正）")
    new_form = fill_form_bytes(first.form_id, fields)
    box.add(_raw("补充材料 GS-2023-0001", {"更正后的申报表.docx": new_form}, sender=first.sender))
    result = _run(tmp_path, rt)
    assert result.applications_created == 0 and result.materials_added == 1
    with session_scope(rt.db_url) as s:
        forms = s.scalars(select(Material).where(Material.kind == "form_docx").order_by(Material.id)).all()
        assert [f.version for f in forms] == [1, 2]
        assert forms[0].superseded_by_id == forms[1].id and forms[1].superseded_by_id is None
        app = s.scalar(select(Application))
        assert app.fields["summary"].endswith("（更正）")
        subjects = sorted(m.subject for m in s.scalars(select(OutboxEmail)))
    assert subjects[-1] == "【第五届中国质量奖】补充材料已收到（GS-2023-0001）"

    # identical content again: recorded once
    box.add(_raw("GS-2023-0001 重发", {"更正后的申报表.docx": new_form}, sender=first.sender))
    assert _run(tmp_path, rt).materials_added == 0


def test_late_and_defence_industry(tmp_path, rt, gen, monkeypatch, season) -> None:
    from award.forms import fill_form_bytes

    box = _box(tmp_path)
    org = next(a for a in gen.applications if a.category != "individual")
    fields = dict(org.fields, defence="是")
    box.add(_raw("申报材料", {"申报表.docx": fill_form_bytes(org.form_id, fields)}, sender="mil@example.com"))
    _run(tmp_path, rt)
    monkeypatch.setenv("AWARD_FAKE_NOW", AFTER)
    late = next(a for a in gen.applications if a is not org)
    box.add(_mail_of(tmp_path, late))
    result = _run(tmp_path, rt)
    assert result.late == 1
    with session_scope(rt.db_url) as s:
        states = {a.applicant.key: a.state for a in s.scalars(select(Application))}
        mails = {m.template: m for m in s.scalars(select(OutboxEmail))}
    assert states[org.key] == "ineligible" and states[late.key] == "late"
    assert "逾期不再受理" in mails["late"].subject and mails["late"].to_addrs == [late.sender]
    assert "军工" in mails["wrong_channel"].body_text and mails["wrong_channel"].to_addrs == ["mil@example.com"]


def test_refused_files_archived_recorded_and_told(tmp_path, rt, gen) -> None:
    box = _box(tmp_path)
    first = gen.applications[0]
    folder = tmp_path / "gen" / first.folder
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../etc/passwd.pdf", b"%PDF-1.4 x" * 20)
        zf.writestr("材料/证明.pdf", b"%PDF-1.4 proof" * 20)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "meta.json"}
    docx = next(data for name, data in files.items() if name.endswith(".docx"))
    files.update({"宏.docm": docx, "假的.pdf": b"MZ\x90\x00 not a pdf", "打包.zip": evil.getvalue()})
    raw = _raw("申报材料", files, sender=first.sender)
    box.add(raw)
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files == 3
    with session_scope(rt.db_url) as s:
        item = s.scalar(select(InboundItem))
        assert rt.blobs.get_bytes(item.sha256) == raw  # the original message is archived
        codes = sorted(p.code for p in s.scalars(select(Problem)))
        refused = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "refused_file"))
        names = {m.filename for m in s.scalars(select(Material))}
    assert codes == ["macro_document", "path_traversal", "type_mismatch"], codes
    assert refused.to_addrs == [first.sender]
    assert "宏.docm" in refused.body_text and "假的.pdf" in refused.body_text and "passwd" in refused.body_text
    assert "材料/证明.pdf" in names


def test_no_form_tells_sender(tmp_path, rt) -> None:
    _box(tmp_path).add(_raw("材料", {"证明.pdf": b"%PDF-1.4 proof"}, sender="x@example.com"))
    result = _run(tmp_path, rt)
    assert result.applications_created == 0 and result.failed == 1
    with session_scope(rt.db_url) as s:
        [mail] = s.scalars(select(OutboxEmail)).all()
        assert mail.template == "no_form" and mail.to_addrs == ["x@example.com"]
        assert s.scalar(select(InboundItem)).status == "failed"


def test_city_batch_letter_and_multi_channel(tmp_path, rt, season) -> None:
    from award.demo.generator import generate
    from award.demo.setup import deliver

    gen = generate(tmp_path / "gen", 3, 8, season=season, defect_share=0.0, channels=("city",))
    deliver(tmp_path / "gen", tmp_path / "maildir", tmp_path / "shared")
    result = _run(tmp_path, rt)
    assert result.applications_created == 3
    with session_scope(rt.db_url) as s:
        for app in s.scalars(select(Application)):
            kinds = [m.kind for m in app.materials]
            assert app.channel == "city" and kinds.count("city_recommendation") == 1
            assert app.city in season.province.cities
    # the same applicant now also mails its application: flagged, both kept, applicant and staff told once
    one = gen.applications[0]
    folder = tmp_path / "gen" / one.folder
    _box(tmp_path).add(_raw("申报材料", {p.name: p.read_bytes() for p in sorted(folder.iterdir())},
                            sender="dup@example.com"))
    result = _run(tmp_path, rt)
    assert result.multi_channel == 1 and result.applications_created == 0
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application).where(Application.multi_channel.is_(True)))
        assert app is not None and app.channels == ["city", "mail"]
        templates = sorted(m.template for m in s.scalars(select(OutboxEmail).where(
            OutboxEmail.application_id == app.id)))
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "multi_channel")) is not None
        staff = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "staff_notice"))
    assert "multi_channel" in templates and staff.to_addrs == [str(season.recommending_unit.ops_email)]
