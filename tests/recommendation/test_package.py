"""The recommendation package: approval binding, compile, verify against the store, export once, results."""

from __future__ import annotations

import io
import json
import zipfile
from functools import partial
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from award.mail.outbox import drain
from award.package import (
    PackageError,
    PackageVerificationError,
    compile_package,
    export_package,
    export_state,
    notify_applicants,
    pending_work,
    record_approval,
    verify_package,
)
from award.states import State
from award.store import session_scope
from award.store.models import Application, Material, OutboxEmail, Package

from .factory import add_material, make_app


@pytest.fixture()
def confirmed(rt):  # type: ignore[no-untyped-def]
    """Two organisations and one individual confirmed as candidates, one organisation not recommended."""
    season = rt.season
    with session_scope(rt.db_url) as s:
        made = [
            make_app(s, season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=91),
            make_app(s, season, rt.blobs, n=2, state=State.CANDIDATE_CONFIRMED, score=88,
                     key=season.priority_winners[0].key, name="宁波示例精工股份有限公司"),
            make_app(s, season, rt.blobs, n=3, category="individual", state=State.CANDIDATE_CONFIRMED, score=86),
            make_app(s, season, rt.blobs, n=4, state=State.REVIEWED, score=50, materials=False),
        ]
        s.get(Application, made[1].app_id).priority = True
        from award.states import transition

        transition(s, s.get(Application, made[3].app_id), State.NOT_RECOMMENDED, actor="test", reason="名额外")
    return made


def approve(rt, **kw) -> int:  # type: ignore[no-untyped-def]
    work = pending_work(rt)
    assert work["needed"], work
    return record_approval(rt, content_hash=work["content_hash"], approved=True, approver=kw.get("approver", "张局长"),
                           opinion=kw.get("opinion", "同意推荐"), doc_number=kw.get("doc", "浙市监质函〔2023〕45号"),
                           responded_by="admin")


def test_letter_summary_and_folder_read_back(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compiled = compile_package(rt, pid)
    folder = compiled.folder
    # the letter: GB/T 9704 page set-up, red issuer mark, document number, title, recipient, signature
    doc = Document(str(folder / "推荐函.docx"))
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    assert [round(x.mm) for x in (sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin)] == [37, 35, 28, 26]
    texts = [p.text for p in doc.paragraphs]
    issuer = doc.paragraphs[0]
    assert issuer.text == rt.season.recommending_unit.name
    assert str(issuer.runs[0].font.color.rgb) == "FF0000"
    assert "浙市监质函〔2023〕45号" in texts
    number_para = next(p for p in doc.paragraphs if p.text == "浙市监质函〔2023〕45号")
    assert 'w:color="FF0000"' in number_para._element.xml  # the red separator line
    assert any(t.startswith("关于推荐第五届中国质量奖") for t in texts)
    assert "中国质量奖评选表彰委员会秘书处：" in texts
    body = next(p for p in doc.paragraphs if "现推荐" in p.text)
    assert "2个组织、1名个人" in body.text
    assert body.runs[0].font.size.pt == 16 and body.runs[0].font.name == "仿宋_GB2312"
    assert "附件：推荐名单汇总表" in texts and "2023年" in "".join(texts)
    # the summary table as xlsx and docx
    ws = load_workbook(folder / "推荐名单汇总表.xlsx").active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert rows[0][:9] == ("序号", "名称", "统一代码", "类别", "所在地区", "联系人", "手机", "评审得分", "省质量奖获奖优先")
    assert [r[1] for r in rows[1:]] == [confirmed[0].name, confirmed[1].name, confirmed[2].name]
    assert rows[3][2] == confirmed[2].key  # the national regulator gets the real ID number (package not public)
    assert rows[2][8] == "是" and rows[1][8] == "否"
    table = Document(str(folder / "推荐名单汇总表.docx")).tables[0]
    assert [c.text for c in table.rows[2].cells][1] == confirmed[1].name
    assert round(Document(str(folder / "推荐名单汇总表.docx")).sections[0].page_width.mm) == 297
    # one folder per candidate with consistent names, checked against the store
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    first = f"01_{confirmed[0].name}"
    assert sorted(p.name for p in (folder / first).iterdir()) == sorted([
        f"{first}_申报表.docx", f"{first}_申报表.pdf", f"{first}_证实性材料_01.pdf", f"{first}_公示情况证明_01.pdf"])
    assert (folder / f"03_{confirmed[2].name}" / f"03_{confirmed[2].name}_所在单位意见_01.pdf").exists()
    with session_scope(rt.db_url) as s:
        for entry in manifest["files"]:
            data = (folder / entry["path"]).read_bytes()
            assert len(data) == entry["size"]
            if entry["source"] == "material":
                m = s.get(Material, entry["material_id"])
                assert m.sha256 == entry["sha256"] and rt.blobs.get_bytes(m.sha256) == data
    assert "打印清单.txt" in {e["path"] for e in manifest["files"]}
    assert "×3份" in (folder / "打印清单.txt").read_text(encoding="utf-8")
    with zipfile.ZipFile(compiled.zip_path) as zf:
        names = zf.namelist()
    assert len(names) == len(manifest["files"]) + 1 and all(n.startswith(folder.name + "/") for n in names)


def test_verify_export_email_and_no_second_send(rt, confirmed, smtp_server) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compile_package(rt, pid)
    assert verify_package(rt, pid).ok
    result = export_package(rt, pid)
    assert result.sent_now and result.zip_attached
    assert export_package(rt, pid).sent_now is False  # re-run: nothing queued again
    notify_applicants(rt)
    assert notify_applicants(rt) == {"recommended": 0, "not_recommended": 0, "skipped": 0}
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    unit = rt.season.recommending_unit
    national = smtp_server.to(str(rt.season.national.recipient_email))
    assert len(national) == 1
    mail = national[0]
    assert mail.subject == f"{unit.name}+{unit.contact}+{unit.phone}"
    attachments = mail.attachments()
    assert {"推荐函.docx", "推荐名单汇总表.docx", "推荐名单汇总表.xlsx", "manifest.json"} <= set(attachments)
    Document(io.BytesIO(attachments["推荐函.docx"]))  # opens
    manifest = json.loads(attachments["manifest.json"])
    assert manifest["version"] == 1 and len(manifest["candidates"]) == 3
    uploaded = sorted(o.key for o in rt.shared.list("national/"))
    assert any(k.endswith(".zip") for k in uploaded) and "national/cqa-5-2023/v01/推荐函.docx" in uploaded
    # results to applicants: 3 recommended, 1 not recommended, once each
    recommended = [m for m in smtp_server.messages if "已被推荐" in m.subject]
    assert len(recommended) == 3
    assert len([m for m in smtp_server.messages if m.subject.startswith("【第五届中国质量奖】推荐结果通知") and "已被推荐" not in m.subject]) == 1
    with session_scope(rt.db_url) as s:
        assert s.scalar(select(Package)).status == "sent"
        assert {a.state for a in s.scalars(select(Application))} == {"exported", "not_recommended"}
    assert export_state(rt)["sent"] is True
    assert pending_work(rt)["needed"] is False


def test_large_materials_go_by_link(rt, smtp_server) -> None:  # type: ignore[no-untyped-def]
    import os

    season = rt.season.model_copy(update={"national": rt.season.national.model_copy(update={"attachment_limit_mb": 1})})
    rt.season = season
    with session_scope(rt.db_url) as s:
        make_app(s, season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=90,
                 evidence_bytes=b"%PDF-1.4\n" + os.urandom(1_200_000))
    pid = approve(rt)
    compile_package(rt, pid)
    verify_package(rt, pid)
    assert export_package(rt, pid).zip_attached is False
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    mail = smtp_server.to(str(season.national.recipient_email))[0]
    assert not any(n.endswith(".zip") for n in mail.attachments())
    assert "请从以下地址下载" in mail.text() and "national/cqa-5-2023/v01/" in mail.text()


def test_tampered_zip_fails_verification_reports_to_ops_and_blocks_export(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compiled = compile_package(rt, pid)
    # swap one material inside the zip and register the tampered zip as the package's zip
    with zipfile.ZipFile(compiled.zip_path) as zf:
        entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    tampered = Path(compiled.zip_path).with_suffix(".bad.zip")
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in entries:
            zf.writestr(name, b"tampered" if name.endswith("证实性材料_01.pdf") and "01_" in name else data)
        zf.writestr(f"{compiled.folder.name}/99_未审定单位/extra.pdf", b"x")
    ref = rt.blobs.put_file(tampered)
    with session_scope(rt.db_url) as s:
        s.get(Package, pid).zip_sha256 = ref.sha256
    with pytest.raises(PackageVerificationError) as info:
        verify_package(rt, pid)
    problems = "\n".join(info.value.problems)
    assert "文件校验值不符" in problems and "未列入清单" in problems
    with pytest.raises(PackageError, match="尚未通过校验"):
        export_package(rt, pid)
    with session_scope(rt.db_url) as s:
        assert s.get(Package, pid).status == "failed"
        notice = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "staff_notice")).one()
        assert notice.to_addrs == [str(rt.season.recommending_unit.ops_email)] and "校验未通过" in notice.subject
        assert not s.scalars(select(OutboxEmail).where(OutboxEmail.template == "national_submission")).all()


def test_unapproved_candidate_or_missing_file_fails(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compile_package(rt, pid)
    with session_scope(rt.db_url) as s:  # a required file disappears after compiling
        m = s.scalars(select(Material).where(Material.application_id == confirmed[0].app_id,
                                             Material.kind == "publicity_proof")).one()
        s.delete(m)
    with pytest.raises(PackageVerificationError) as info:
        verify_package(rt, pid)
    assert any("公示情况证明" in p for p in info.value.problems)


def test_change_after_sending_makes_new_version_needing_approval(rt, confirmed, smtp_server) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compile_package(rt, pid)
    verify_package(rt, pid)
    export_package(rt, pid)
    assert pending_work(rt)["needed"] is False
    with session_scope(rt.db_url) as s:  # the applicant sends a corrected form after the export
        app = s.get(Application, confirmed[0].app_id)
        old = next(m for m in app.materials if m.kind == "form_pdf")
        add_material(s, rt.blobs, app, "form_pdf", "更正后申报表.pdf", b"%PDF-1.4 corrected", supersede=old)
    work = pending_work(rt)
    assert work["needed"] and work["latest_version"] == 1
    with pytest.raises(PackageError, match="未经领导小组审定|已报送"):
        compile_package(rt, pid)  # the sent version cannot be rebuilt
    pid2 = approve(rt, doc="浙市监质函〔2023〕52号")
    assert pid2 != pid
    compile_package(rt, pid2)
    verify_package(rt, pid2)
    assert export_package(rt, pid2).sent_now
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    national = smtp_server.to(str(rt.season.national.recipient_email))
    assert len(national) == 2
    assert json.loads(national[1].attachments()["manifest.json"])["version"] == 2
    with session_scope(rt.db_url) as s:
        assert [p.status for p in s.scalars(select(Package).order_by(Package.version))] == ["sent", "sent"]


def test_approval_is_bound_to_the_content_shown(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    work = pending_work(rt)
    with session_scope(rt.db_url) as s:  # something changes while the leaders look at the list
        app = s.get(Application, confirmed[0].app_id)
        add_material(s, rt.blobs, app, "evidence", "补充.pdf", b"%PDF-1.4 more")
    with pytest.raises(PackageError, match="重新审定"):
        record_approval(rt, content_hash=work["content_hash"], approved=True, approver="张局长", opinion="同意",
                        doc_number="1号")
    work = pending_work(rt)
    pid = record_approval(rt, content_hash=work["content_hash"], approved=False, approver="张局长",
                          opinion="材料需补充说明", doc_number="")
    with pytest.raises(PackageError, match="未经领导小组审定"):
        compile_package(rt, pid)
    with session_scope(rt.db_url) as s:
        assert {a.state for a in s.scalars(select(Application)) if a.id != confirmed[3].app_id} == {"candidate_confirmed"}
    assert pending_work(rt)["needed"]  # a rejected version asks again
