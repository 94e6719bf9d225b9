"""Intake rules on generated applications: matching, versions, late, defence industry, multi-channel, refusals."""

from __future__ import annotations

import io
import json
import mailbox
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from award.demo.setup import build_message
from award.inbound.sources import MaildirSource, fetch_mail, fetch_storage
from award.intake import kind_by_name, process_pending
from award.runtime import Runtime
from award.store.db import session_scope
from award.store.models import Application, AuditEvent, InboundItem, Material, OutboxEmail, Problem
from tests.fixtures import build_raw_mail

IN_PERIOD = "2023-05-20T10:00:00+08:00"
AFTER = "2023-05-26T09:00:00+08:00"


@pytest.fixture()
def rt(fake_now, make_rt, tmp_path, season, db_url, monkeypatch) -> Runtime:
    """Every intake test runs on SQLite and on PostgreSQL."""
    fake_now(IN_PERIOD)
    return make_rt(db_url)


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
    return build_raw_mail(subject, "材料见附件", sender=sender, attachments=files)


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

    # two new publicity proofs in one mail: each version supersedes the one before (all kept)
    pdf = b"%PDF-1.4\n%%EOF\n"
    box.add(_raw("补充材料 GS-2023-0001", {"内部公示情况说明(新).pdf": pdf + b"%a\n", "内部公示情况说明(终).pdf": pdf + b"%b\n"},
                 sender=first.sender))
    assert _run(tmp_path, rt).materials_added == 2
    with session_scope(rt.db_url) as s:
        proofs = s.scalars(select(Material).where(Material.kind == "publicity_proof").order_by(Material.id)).all()
        assert [p.version for p in proofs] == [1, 2, 3]
        assert [p.superseded_by_id for p in proofs] == [proofs[1].id, proofs[2].id, None]

    # identical content again: recorded once
    box.add(_raw("GS-2023-0001 重发", {"更正后的申报表.docx": new_form}, sender=first.sender))
    assert _run(tmp_path, rt).materials_added == 0


def _person(tmp_path, season):  # type: ignore[no-untyped-def]
    """A generated individual applicant (its own generation: the module's set may hold none)."""
    from award.demo.generator import generate

    people = generate(tmp_path / "people", 3, 1, season=season, defect_share=0.0, channels=("mail",))
    return next(a for a in people.applications if a.category == "individual")


def test_late_and_defence_industry(fake_now, tmp_path, rt, gen, monkeypatch, season) -> None:
    from award.forms import fill_form_bytes

    box = _box(tmp_path)
    org = next(a for a in gen.applications if a.category != "individual")
    fields = dict(org.fields, defence="是")
    box.add(_raw("申报材料", {"申报表.docx": fill_form_bytes(org.form_id, fields)}, sender="mil@example.com"))
    person = _person(tmp_path, rt.season)
    box.add(_raw("申报材料", {"推荐表.docx": fill_form_bytes(person.form_id, dict(person.fields, defence="是"))},
                 sender="mil-person@example.com"))
    _run(tmp_path, rt)
    fake_now(AFTER)
    late = next(a for a in gen.applications if a is not org)
    box.add(_mail_of(tmp_path, late))
    result = _run(tmp_path, rt)
    assert result.late == 1
    with session_scope(rt.db_url) as s:
        states = {a.applicant.key: a.state for a in s.scalars(select(Application))}
        mails = {m.template: m for m in s.scalars(select(OutboxEmail))}
        wrong = {m.to_addrs[0]: m for m in s.scalars(select(OutboxEmail).where(OutboxEmail.template == "wrong_channel"))}
        reasons = [e.reason for e in s.scalars(select(AuditEvent).where(AuditEvent.to_state == "ineligible"))]
    assert len(reasons) == 2 and all("国家国防科工局" in r and "涉密" not in r for r in reasons)
    assert states[org.key] == "ineligible" and states[late.key] == "late" and states[person.key] == "ineligible"
    assert "逾期不再受理" in mails["late"].subject and mails["late"].to_addrs == [late.sender]
    assert sorted(wrong) == ["mil-person@example.com", "mil@example.com"]  # organisations and individuals
    for mail in wrong.values():  # the reply names both channels in the notice's words, and is not widened
        assert "国家国防科工局" in mail.body_text and "中央军委装备发展部" in mail.body_text
        assert "武器研发制造维修设计" in mail.body_text and "涉密" not in mail.body_text
    assert "推荐表中填报" in wrong["mil-person@example.com"].body_text  # 附件5 is the individuals' 推荐表
    assert "申报表中填报" in wrong["mil@example.com"].body_text


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
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    files["补充证明材料.pdf"] = b"%PDF-1.4\n% sent by mail only\n%%EOF\n"
    # (from the form's contact address: an address on the application, so it is taken automatically)
    _box(tmp_path).add(_raw("申报材料", files, sender=one.fields["email"]))
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
    # the staff notice names the channels in Chinese (rules.yaml channel_labels), never their codes
    assert staff.subject.endswith(f"多渠道申报：{app.submission_no}")
    assert "同时通过市州推荐（共享存储）和电子邮件申报" in staff.body_text
    assert "1. 内部公示情况说明.pdf（市州推荐（共享存储））" in staff.body_text
    assert "补充证明材料.pdf（电子邮件）" in staff.body_text  # the file that came by mail is listed too
    assert "（mail）" not in staff.body_text and "（city）" not in staff.body_text


REFUSAL_CASES = {
    "zip_bomb": ("材料.zip", "zip_bomb"),
    "encrypted_zip": ("加密材料.zip", "encrypted"),
    "rar_like": ("材料.rar", "unsupported_archive"),
    "docm_file": ("申报书.docm", "macro_document"),
    "entity_docx": ("证明材料.docx", "unsafe_document"),
    "mismatched_pdf": ("证书.pdf", "type_mismatch"),
    "traversal_zip": ("打包.zip", "path_traversal"),
}


@pytest.mark.parametrize("case", sorted(REFUSAL_CASES))
def test_each_refusal_is_archived_recorded_and_told(case, tmp_path, rt, gen) -> None:
    """A valid application plus one hostile file: the application is taken, the file refused with its reason."""
    from tests import mailcases

    first = gen.applications[0]
    folder = tmp_path / "gen" / first.folder
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "meta.json"}
    name, code = REFUSAL_CASES[case]
    files[name] = getattr(mailcases, case)()
    raw = _raw("申报材料", files, sender=first.sender)
    _box(tmp_path).add(raw)
    result = _run(tmp_path, rt)
    assert result.applications_created == 1 and result.refused_files >= 1
    with session_scope(rt.db_url) as s:
        item = s.scalar(select(InboundItem))
        assert rt.blobs.get_bytes(item.sha256) == raw
        problems = s.scalars(select(Problem)).all()
        mail = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "refused_file"))
    assert code in {p.code for p in problems}
    assert all(p.inbound_item_id == item.id and p.message for p in problems)
    assert mail is not None and mail.to_addrs == [first.sender]
    assert name in mail.body_text or any(p.filename and p.filename in mail.body_text for p in problems)


def test_chinese_client_mime_and_gbk_zip(tmp_path, rt, gen) -> None:
    """GBK encoded-words in quoted filename=, a GBK-named zip without the UTF-8 flag, forwarded attachments."""
    import base64

    from tests import mailcases

    first = gen.applications[0]
    folder = tmp_path / "gen" / first.folder
    form = next(p for p in folder.iterdir() if p.suffix == ".docx")
    boundary = "b1"
    parts = [
        "From: =?gbk?B?" + base64.b64encode("王喆".encode("gbk")).decode() + f"?= <{first.sender}>",
        "To: zlfzc@scjg.example.gov.cn",
        "Subject: =?gb2312?B?" + base64.b64encode("申报材料".encode("gbk")).decode() + "?=",
        "MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{boundary}"', "",
        f"--{boundary}", "Content-Type: text/plain; charset=gbk", "", "body",
    ]
    for name, data in ((form.name, form.read_bytes()), ("申报材料.zip", mailcases.gbk_zip())):
        parts += [f"--{boundary}", "Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64",
                  'Content-Disposition: attachment; filename="=?gbk?B?'
                  + base64.b64encode(name.encode("gbk")).decode() + '?="', "",
                  base64.encodebytes(data).decode()]
    parts += [f"--{boundary}--", ""]
    _box(tmp_path).add("\r\n".join(parts).encode("ascii"))
    assert _run(tmp_path, rt).applications_created == 1
    with session_scope(rt.db_url) as s:
        names = {m.filename: m.kind for m in s.scalars(select(Material))}
    assert names[form.name] == "form_docx"
    assert names["申报材料/证明材料/质量管理体系认证证书.pdf"] == "evidence"
    assert "申报材料/证明材料/喆镕公司营业执照.jpg" in names

    # a forwarded message without a form: the sender is told what is needed, forwarded files listed
    _box(tmp_path).add(mailcases.forwarded_with_attachments())
    assert _run(tmp_path, rt).failed == 1
    with session_scope(rt.db_url) as s:
        mail = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "no_form"))
    assert mail.to_addrs == ["hz@example.gov.cn"]
    assert all(n in mail.body_text for n in (*mailcases.FWD_INNER_FILES, mailcases.FWD_B64_FILE))


def test_correction_after_deadline(fake_now, tmp_path, rt, gen, monkeypatch) -> None:
    """After the deadline, materials for an existing application are taken until its correction_due date."""
    from datetime import date

    box = _box(tmp_path)
    first = gen.applications[0]
    box.add(_mail_of(tmp_path, first))
    _run(tmp_path, rt)
    with session_scope(rt.db_url) as s:
        app = s.scalar(select(Application))
        app.correction_due = date(2023, 5, 31)
    fake_now("2023-05-29T10:00:00+08:00")
    box.add(_raw("补正材料 GS-2023-0001", {"补充证明.pdf": b"%PDF-1.4 new proof" * 10}, sender=first.sender))
    assert _run(tmp_path, rt).materials_added == 1
    fake_now("2023-06-02T10:00:00+08:00")
    box.add(_raw("补正材料 GS-2023-0001", {"再补充.pdf": b"%PDF-1.4 too late" * 10}, sender=first.sender))
    result = _run(tmp_path, rt)
    assert result.materials_added == 0 and result.late == 1
    with session_scope(rt.db_url) as s:
        late = s.scalar(select(OutboxEmail).where(OutboxEmail.template == "late"))
        assert "补正期限" in late.body_text
        assert s.scalar(select(Application)).state == "received"


def test_city_batch_from_s3_over_http(fake_now, make_rt, tmp_path, s3_bucket, season, sqlite_url, monkeypatch) -> None:
    from award.demo.generator import generate
    from award.storage.shared import S3Storage

    fake_now(IN_PERIOD)
    client, bucket = s3_bucket
    shared = S3Storage(client, bucket, "shared/")
    rt = make_rt(sqlite_url, shared=shared)
    generate(tmp_path / "gen", 2, 21, season=season, defect_share=0.0, channels=("city",))
    for path in sorted((tmp_path / "gen" / "city").rglob("*")):
        if path.is_file():
            shared.write("incoming/" + path.relative_to(tmp_path / "gen" / "city").as_posix(), path.read_bytes())
    result = _run(tmp_path, rt)
    assert result.applications_created == 2
    with session_scope(rt.db_url) as s:
        items = s.scalars(select(InboundItem)).all()
        assert {i.channel for i in items} == {"s3"}
        apps = s.scalars(select(Application)).all()
        assert all("city_recommendation" in {m.kind for m in a.materials} for a in apps)
    assert _run(tmp_path, rt).as_dict()["items"] == 0
