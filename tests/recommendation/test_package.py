"""The recommendation package: approval binding, compile, verify against the store, export once, results."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from award.config import parse_season
from award.mail.outbox import drain
from award.recommendation.alerts import export_state
from award.recommendation.approval import record_approval
from award.recommendation.compile import Compiled, compile_package
from award.recommendation.export import export_package
from award.recommendation.package import PackageError, PackageVerificationError
from award.recommendation.proposal import pending_work
from award.recommendation.results import notify_applicants
from award.recommendation.verify import verify_package
from award.states import State
from award.store import session_scope
from award.store.models import Application, Material, OutboxEmail, Package

from .factory import add_material, make_app

GANSU_LETTERS = {
    "recommendation": {"issuer": "甘肃省质量强省建设协调推进领导小组", "signature": "甘肃省质量强省建设协调推进领导小组",
                       "doc_prefix": "甘质强组〔2023〕"},
    "audit_opinion": {"issuer": "甘肃省市场监督管理局", "signature": "甘肃省市场监督管理局"},
}
MOBILE = "13919310000"


@pytest.fixture()
def rt(rt):  # type: ignore[no-untyped-def]
    """The runtime with the Gansu letters' issuers and a mobile number for the national mail's subject."""
    season = rt.season
    data = season.model_dump(mode="json")
    data["letters"] = GANSU_LETTERS
    data["national"]["contact_mobile"] = MOBILE
    rt.season = parse_season(data)
    return rt


@pytest.fixture()
def confirmed(rt):  # type: ignore[no-untyped-def]
    """Two organisations and one individual confirmed as candidates, one organisation not recommended."""
    season = rt.season
    with session_scope(rt.db_url) as s:
        made = [
            make_app(s, season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=91),
            make_app(s, season, rt.blobs, n=2, state=State.CANDIDATE_CONFIRMED, score=88,
                     key=season.priority_winners[0].key, name=season.priority_winners[0].name),
            make_app(s, season, rt.blobs, n=3, category="individual", state=State.CANDIDATE_CONFIRMED, score=86),
            make_app(s, season, rt.blobs, n=4, state=State.REVIEWED, score=50, materials=False),
        ]
        s.get(Application, made[1].app_id).priority = True
        person = s.get(Application, made[2].app_id)
        person.fields = {"employer": "示例精密机械有限公司", "recommending_unit": "兰州新区市场监督管理局"}
        from award.states import transition

        transition(s, s.get(Application, made[3].app_id), State.NOT_RECOMMENDED, actor="test", reason="名额外")
    return made


def approve(rt, **kw) -> int:  # type: ignore[no-untyped-def]
    work = pending_work(rt)
    assert work["needed"], work
    return record_approval(rt, content_hash=work["content_hash"], approved=True, approver=kw.get("approver", "张局长"),
                           opinion=kw.get("opinion", "同意推荐"), doc_number=kw.get("doc", "甘质强组〔2023〕45号"),
                           audit_doc_number=kw.get("audit_doc", "甘市监质函〔2023〕46号"), responded_by="admin")


def built(rt) -> Compiled:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    return compile_package(rt, pid)


def test_both_letters_read_back(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    """推荐函 = the leadership group's 推荐意见; 审核意见 = the bureau's; issuers and signatures from the season."""
    folder = built(rt).folder
    for name, issuer, number in (("推荐函.docx", "甘肃省质量强省建设协调推进领导小组", "甘质强组〔2023〕45号"),
                                 ("审核意见.docx", "甘肃省市场监督管理局", "甘市监质函〔2023〕46号")):
        doc = Document(str(folder / name))
        sec = doc.sections[0]
        assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
        assert [round(x.mm) for x in (sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin)] == [
            37, 35, 28, 26]
        texts = [p.text for p in doc.paragraphs]
        assert doc.paragraphs[0].text == issuer and str(doc.paragraphs[0].runs[0].font.color.rgb) == "FF0000"
        number_para = next(p for p in doc.paragraphs if p.text == number)
        assert 'w:color="FF0000"' in number_para._element.xml  # the red separator line
        assert "中国质量奖评选表彰委员会秘书处：" in texts
        body = "".join(texts)
        assert "2个组织、1名个人" in body and "我局" not in body and "提名奖" not in body
        assert issuer in texts[texts.index("特此函告。") + 1:]  # the signature
        assert "附件：推荐名单汇总表" in texts and "2023年" in body
        assert f"{rt.season.province.name}经自愿申报" in body or f"对{rt.season.province.name}" in body
    letter = "".join(p.text for p in Document(str(folder / "推荐函.docx")).paragraphs)
    assert "甘肃省质量强省建设协调推进领导小组按照推荐名额要求，同意推荐" in letter
    assert "甘肃省市场监督管理局的审核意见及申报材料随函报送" in letter
    audit = "".join(p.text for p in Document(str(folder / "审核意见.docx")).paragraphs)
    assert "完整性、真实性、准确性、合法性" in audit and "不少于5个工作日的公示" in audit


def test_letter_wording_comes_from_the_season(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    data = rt.season.model_dump(mode="json")
    data["letters"]["audit_opinion"]["body"] = ["经审核，同意推荐{{ org_count }}个组织、{{ person_count }}名个人。",
                                                "特此函告。"]
    data["letters"]["audit_opinion"]["title"] = "{{ edition }}审核意见"
    rt.season = parse_season(data)
    texts = [p.text for p in Document(str(built(rt).folder / "审核意见.docx")).paragraphs]
    assert "第五届审核意见" in texts and "经审核，同意推荐2个组织、1名个人。" in texts


def test_summary_columns_from_the_season_without_scores_or_tier(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    folder = built(rt).folder
    ws = load_workbook(folder / "推荐名单汇总表.xlsx").active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    header = ["序号", "推荐对象名称", "类别", "所在地区", "工作单位", "推荐单位", "联系人", "联系电话"]
    assert list(rows[0]) == header
    assert [r[1] for r in rows[1:]] == [confirmed[0].name, confirmed[1].name, confirmed[2].name]
    person = rows[3]
    assert person[2] == "个人" and person[4] == "示例精密机械有限公司" and person[5] == "兰州新区市场监督管理局"
    assert rows[1][4] is None  # 工作单位 is for individuals
    everything = str(rows)
    for word in ("得分", "91", "提名奖", "推荐奖项", "优先"):
        assert word not in everything
    table = Document(str(folder / "推荐名单汇总表.docx")).tables[0]
    assert [c.text for c in table.rows[0].cells] == header
    assert [c.text for c in table.rows[2].cells][1] == confirmed[1].name
    assert round(Document(str(folder / "推荐名单汇总表.docx")).sections[0].page_width.mm) == 297
    # another column set, as another province's season may choose
    data = rt.season.model_dump(mode="json")
    data["national"]["summary_columns"] = ["nn", "name", {"field": "code", "label": "统一社会信用代码"}, "city"]
    rt.season = parse_season(data)
    with session_scope(rt.db_url) as s:
        for p in s.scalars(select(Package)):
            s.delete(p)
    from award.recommendation.documents import write_summary_xlsx

    out = folder.parent / "other.xlsx"
    with session_scope(rt.db_url) as s:
        from award.recommendation.proposal import build_proposal

        write_summary_xlsx(out, rt.season, build_proposal(s, rt.season).candidates, datetime(2023, 6, 1))
    assert list(next(load_workbook(out).active.iter_rows(min_row=3, values_only=True))) == [
        "序号", "推荐对象名称", "统一社会信用代码", "所在地区"]


def test_internal_ranking_sheet_stays_internal(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    compiled = built(rt)
    sheet = compiled.folder.parent / "内部排序表（不报送）.xlsx"
    rows = list(load_workbook(sheet).active.iter_rows(min_row=2, values_only=True))
    assert rows[0][:10] == ("组别", "排序", "申报编号", "推荐对象名称", "类别", "所在地区", "评审得分", "优先推荐依据",
                           "排序结果", "当前状态")
    with zipfile.ZipFile(compiled.zip_path) as zf:
        assert not any("排序" in n for n in zf.namelist())
    assert not list(compiled.folder.rglob("*排序*"))  # not in the package folder nor on the disc


def test_folder_disc_cover_sheet_and_print_list_read_back(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    compiled = built(rt)
    folder = compiled.folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    first = f"01_{confirmed[0].name}"
    assert sorted(p.name for p in (folder / first).iterdir()) == sorted([
        f"{first}_申报表.docx", f"{first}_申报表.pdf", f"{first}_证实性材料_01.pdf", f"{first}_公示情况证明_01.pdf"])
    with session_scope(rt.db_url) as s:
        for entry in manifest["files"]:
            data = (folder / entry["path"]).read_bytes()
            assert len(data) == entry["size"]
            if entry["source"] == "material":
                m = s.get(Material, entry["material_id"])
                assert m.sha256 == entry["sha256"] and rt.blobs.get_bytes(m.sha256) == data
    # the ready-to-copy disc folder holds exactly the electronic material (what the zip holds)
    disc = folder / "光盘_U盘"
    on_disc = sorted(str(p.relative_to(disc)) for p in disc.rglob("*") if p.is_file())
    with zipfile.ZipFile(compiled.zip_path) as zf:
        zipped = sorted(n.removeprefix(folder.name + "/") for n in zf.namelist())
    assert on_disc == zipped == sorted([*(e["path"] for e in manifest["files"]), "manifest.json"])
    assert {"推荐函.docx", "审核意见.docx", "推荐名单汇总表.xlsx"} <= set(on_disc)
    # the postal cover sheet: the secretariat's address from the season, and the CD/USB with the paper
    cover = "\n".join(p.text for p in Document(str(folder / "邮寄封面.docx")).paragraphs)
    assert "收件单位：中国质量奖评选表彰委员会秘书处（市场监管总局质量发展局质量管理处）" in cover
    assert "收件地址：北京市东城区安定门外大街56号" in cover and "邮政编码：100011" in cover
    assert "光盘或U盘" in cover and "光盘_U盘" in cover
    # the print list: 申报表 once (the PDF), each candidate's set ×3; letters and the .docx summary once each
    listing = (folder / "打印清单.txt").read_text(encoding="utf-8")
    assert "北京市东城区安定门外大街56号" in listing and "100011" in listing and "光盘或U盘" in listing
    assert "推荐函.docx　×1份" in listing and "审核意见.docx　×1份" in listing
    assert "推荐名单汇总表.docx　×1份" in listing and "推荐名单汇总表.xlsx" not in listing
    assert f"{first}_申报表.pdf" in listing and f"{first}_申报表.docx" not in listing
    assert listing.count("_申报表.") == 3 and "一式3份" in listing
    assert "申报材料 3 册 ×3份" in listing
    # staff documents are not sent: not in the zip
    assert "打印清单.txt" not in zipped and "邮寄封面.docx" not in zipped


def _send(rt, smtp_server) -> list:  # type: ignore[no-untyped-def]
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    return smtp_server.to(str(rt.season.national.recipient_email))


def test_verify_export_email_and_no_second_send(rt, confirmed, smtp_server) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compile_package(rt, pid)
    assert verify_package(rt, pid).ok
    result = export_package(rt, pid)
    assert result.sent_now and result.volumes == 1
    assert export_package(rt, pid).sent_now is False  # re-run: nothing queued again
    notify_applicants(rt)
    assert notify_applicants(rt) == {"recommended": 0, "not_recommended": 0, "skipped": 0}
    national = _send(rt, smtp_server)
    _send(rt, smtp_server)
    unit = rt.season.recommending_unit
    assert len(national) == 1
    mail = national[0]
    assert mail.subject == f"{unit.name}+{unit.contact}+{MOBILE}"
    attachments = mail.attachments()
    assert {"推荐函.docx", "审核意见.docx", "推荐名单汇总表.docx", "推荐名单汇总表.xlsx"} <= set(attachments)
    (zip_name,) = [n for n in attachments if n.endswith(".zip")]
    with zipfile.ZipFile(io.BytesIO(attachments[zip_name])) as zf:
        manifest = json.loads(next(zf.read(n) for n in zf.namelist() if n.endswith("manifest.json")))
    assert manifest["version"] == 1 and len(manifest["candidates"]) == 3
    assert [(v["volume"], v["of"], v["filename"]) for v in manifest["volumes"]] == [(1, 1, zip_name)]
    body = mail.text()
    assert "file://" not in body and "national/" not in body and str(rt.shared.root) not in body
    assert "北京市东城区安定门外大街56号" in body
    uploaded = sorted(o.key for o in rt.shared.list("national/"))
    assert any(k.endswith(".zip") for k in uploaded) and "national/cqa-5-2023/v01/审核意见.docx" in uploaded
    assert not any("排序" in k for k in uploaded)
    # results to applicants: 3 recommended, 1 not recommended, once each; no award tier
    recommended = [m for m in smtp_server.messages if "已被推荐" in m.subject]
    assert len(recommended) == 3 and all("候选对象（" not in m.text() for m in recommended)  # no tier
    assert "中国质量奖评选表彰委员会秘书处" in recommended[0].text()
    assert len([m for m in smtp_server.messages if m.subject.startswith("【第五届中国质量奖】推荐结果通知") and "已被推荐" not in m.subject]) == 1
    with session_scope(rt.db_url) as s:
        assert s.scalar(select(Package)).status == "sent"
        assert {a.state for a in s.scalars(select(Application))} == {"exported", "not_recommended"}
    assert export_state(rt)["sent"] is True
    assert pending_work(rt)["needed"] is False


def test_large_materials_go_in_numbered_volumes_never_by_link(rt, smtp_server) -> None:  # type: ignore[no-untyped-def]
    season = rt.season.model_copy(update={"national": rt.season.national.model_copy(update={"attachment_limit_mb": 1})})
    rt.season = season
    with session_scope(rt.db_url) as s:
        for n in (1, 2, 3):
            make_app(s, season, rt.blobs, n=n, state=State.CANDIDATE_CONFIRMED, score=90 - n,
                     evidence_bytes=b"%PDF-1.4\n" + os.urandom(450_000))
    pid = approve(rt)
    compiled = compile_package(rt, pid)
    assert compiled.volumes >= 2
    assert verify_package(rt, pid).ok
    assert export_package(rt, pid).volumes == compiled.volumes
    national = _send(rt, smtp_server)
    n = compiled.volumes
    unit = rt.season.recommending_unit
    assert sorted(m.subject for m in national) == sorted(
        f"{unit.name}+{unit.contact}+{MOBILE}（第{i}卷/共{n}卷）" for i in range(1, n + 1))
    members: list[str] = []
    for mail in national:
        assert len(mail.raw) <= 1024 * 1024  # every mail under the season's size limit
        assert "file://" not in mail.text() and "national/" not in mail.text()
        (zip_name,) = [k for k in mail.attachments() if k.endswith(".zip")]
        assert f"共{n}卷" in zip_name
        with zipfile.ZipFile(io.BytesIO(mail.attachments()[zip_name])) as zf:
            members += [m.split("/", 1)[1] for m in zf.namelist()]
    manifest = json.loads((compiled.folder / "manifest.json").read_text(encoding="utf-8"))
    assert [v["volume"] for v in manifest["volumes"]] == list(range(1, n + 1))
    assert sorted(members) == sorted([*(e["path"] for e in manifest["files"]), "manifest.json"])
    assert len(members) == len(set(members))  # every file in exactly one volume


def test_a_file_larger_than_the_mail_limit_fails_verification(rt) -> None:  # type: ignore[no-untyped-def]
    season = rt.season.model_copy(update={"national": rt.season.national.model_copy(update={"attachment_limit_mb": 1})})
    rt.season = season
    with session_scope(rt.db_url) as s:
        make_app(s, season, rt.blobs, n=1, state=State.CANDIDATE_CONFIRMED, score=90,
                 evidence_bytes=b"%PDF-1.4\n" + os.urandom(1_200_000))
    pid = approve(rt)
    compile_package(rt, pid)
    with pytest.raises(PackageVerificationError) as info:
        verify_package(rt, pid)
    assert any("超过邮件大小限制 1 MB" in p and "证实性材料_01.pdf" in p for p in info.value.problems)


def test_export_refuses_without_a_mobile_and_alerts_ops(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    data = rt.season.model_dump(mode="json")
    data["national"]["contact_mobile"] = None
    rt.season = parse_season(data)
    pid = approve(rt)
    compile_package(rt, pid)
    verify_package(rt, pid)
    with pytest.raises(PackageError, match=r"national\.contact_mobile"):
        export_package(rt, pid)
    with pytest.raises(PackageError):
        export_package(rt, pid)  # a second try: still refused, one alert
    with session_scope(rt.db_url) as s:
        (alert,) = s.scalars(select(OutboxEmail).where(OutboxEmail.template == "staff_notice")).all()
        assert alert.to_addrs == [str(rt.season.recommending_unit.ops_email)] and "手机号码" in alert.subject
        assert not s.scalars(select(OutboxEmail).where(OutboxEmail.template == "national_submission")).all()
        assert s.get(Package, pid).status == "verified"
        assert {a.state for a in s.scalars(select(Application))} == {"recommended", "not_recommended"}


def test_verification_covers_letters_and_postal_cover_sheet(rt, confirmed) -> None:  # type: ignore[no-untyped-def]
    pid = approve(rt)
    compile_package(rt, pid)
    data = rt.season.model_dump(mode="json")
    data["letters"]["audit_opinion"]["issuer"] = "另一个单位"
    data["national"]["postal_address"] = None
    rt.season = parse_season(data)
    with pytest.raises(PackageVerificationError) as info:
        verify_package(rt, pid)
    problems = "\n".join(info.value.problems)
    assert "审核意见.docx的发文机关或署名与季度配置不符" in problems and "national.postal_address" in problems


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
    pid2 = approve(rt, doc="甘质强组〔2023〕52号")
    assert pid2 != pid
    compile_package(rt, pid2)
    verify_package(rt, pid2)
    assert export_package(rt, pid2).sent_now
    drain(partial(session_scope, rt.db_url), smtp_server.sender(), rt.blobs.get_bytes)
    national = smtp_server.to(str(rt.season.national.recipient_email))
    assert len(national) == 2
    assert all(len([n for n in m.attachments() if n.endswith(".zip")]) == 1 for m in national)
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
