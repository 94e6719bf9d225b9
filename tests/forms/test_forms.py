"""Tests for award.forms: templates, filling (clean and messy), the label-based parser, hostile files, PDFs."""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import date
from pathlib import Path

import pytest
from docx import Document

from award.cli import main as award_main
from award.forms import (
    FORM_IDS,
    FormError,
    all_forms,
    build_all_templates,
    extract_pdf_fields,
    fill_form,
    fill_form_bytes,
    form_spec,
    parse_form,
    render_pdf_copy,
    render_pdf_copy_bytes,
    template_bytes,
)
from award.identity import make_credit_code, make_id_number

rng0 = random.Random(42)
CODE = make_credit_code(rng0)
ID_NUMBER = make_id_number(rng0, date(1975, 6, 1), female=True)
COMMON = {
    "city": "杭州市",
    "violations": "无",
    "summary": "坚持质量第一。\n建立全过程质量管理体系。",
    "publicity_start": "2023-04-17",
    "publicity_end": "2023-04-23",
    "email": "zw@example.com",
    "channel": "市州推荐",
    "channel_city": "杭州市",
    "other_channels": "否",
}
ORG = {
    "org_name": "杭州示例精密机械有限公司",
    "credit_code": CODE,
    "address": "杭州市西湖区文三路1号",
    "industry": "通用设备制造业",
    "org_nature": "民营企业",
    "founded": "2005-03-18",
    "defence": "否",
    "branch": "否",
    "contact": "张伟",
    "contact_phone": "13800571234",
    "quality_model": "精益质量管理模式",
    **COMMON,
}
VALUES = {
    "form1": ORG,
    "form2": {**ORG, "org_name": "杭州市实验小学", "school_type": "小学", "org_nature": "事业单位"},
    "form3": {**ORG, "employees": "250", "revenue": "12000.5"},
    "form4": {
        **{k: v for k, v in ORG.items() if k not in ("industry", "org_nature", "branch")},
        "team_name": "装配车间精益班组",
        "team_type": "一线班组",
        "members": "12",
        "team_leader": "李娜",
    },
    "form5": {
        **COMMON,
        "name": "王芳",
        "gender": "女",
        "id_number": ID_NUMBER,
        "birth_date": "1975-06-01",
        "employer": "杭州示例精密机械有限公司",
        "credit_code": CODE,
        "title": "质量总监",
        "person_group": "质量领域专家学者",
        "defence": "否",
        "phone": "13900571234",
    },
}


def expected(form_id: str) -> dict[str, str]:
    return {key: VALUES[form_id].get(key, "") for key in form_spec(form_id).keys}


# --------------------------------------------------------------------------- spec and templates


def test_specs_cover_five_forms() -> None:
    forms = all_forms()
    assert list(forms) == list(FORM_IDS)
    assert [f.category for f in forms.values()] == ["organization", "education", "sme", "team", "individual"]
    assert forms["form1"].title() == "第五届中国质量奖（组织）申报表"
    assert forms["form4"].title("6") == "第六届中国质量奖（一线班组/QC小组）申报表"
    assert forms["form5"].title() == "第五届中国质量奖（个人）推荐表"  # 附件5 is a 推荐表
    for spec in forms.values():
        assert {"publicity_start", "publicity_end", "channel"} <= set(spec.keys)


def test_build_all_templates(tmp_path: Path) -> None:
    paths = build_all_templates(tmp_path)
    assert [p.name for p in paths] == [f"{f}.docx" for f in FORM_IDS]
    doc = Document(str(paths[0]))
    assert doc.paragraphs[0].text == "第五届中国质量奖（组织）申报表"
    labels = {c.text for row in doc.tables[0].rows for c in row.cells}
    assert {"单位名称", "统一社会信用代码", "是否国防工业、武器研发制造维修设计单位", "公示开始日期"} <= labels
    assert any("郑重承诺" in p.text for p in doc.paragraphs)
    # a blank template parses as its form with only "required" problems
    parsed = parse_form(paths[0])
    assert parsed.form_id == "form1"
    assert {p.message for p in parsed.problems} == {"必填项未填写", "必填项未勾选"}  # choice fields show their boxes
    assert template_bytes("form1") == paths[0].read_bytes()


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_clean_round_trip(form_id: str, tmp_path: Path) -> None:
    path = tmp_path / f"{form_id}.docx"
    fill_form(form_id, VALUES[form_id], path)
    parsed = parse_form(path)
    assert (parsed.form_id, parsed.category) == (form_id, form_spec(form_id).category)
    assert parsed.fields == expected(form_id)
    assert parsed.problems == []
    # python-docx can read what we wrote
    assert Document(str(path)).tables[0].rows


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_messy_round_trip(form_id: str) -> None:
    for seed in range(25):
        data = fill_form_bytes(form_id, VALUES[form_id], messiness=random.Random(seed))
        parsed = parse_form(data)
        assert parsed.form_id == form_id, seed
        assert parsed.fields == expected(form_id), seed
        assert parsed.problems == [], seed


def test_messiness_really_is_messy() -> None:
    texts = []
    for seed in range(10):
        data = fill_form_bytes("form1", VALUES["form1"], messiness=random.Random(seed))
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            texts.append(zf.read("word/document.xml").decode())
    joined = "".join(texts)
    assert "：" in joined or "*" in joined
    assert any(ch in joined for ch in "０１２３４５６７８９")
    assert 'w:vMerge' in joined or 'w:gridSpan w:val="2"' in joined


def test_fill_is_deterministic_and_rejects_unknown_keys() -> None:
    a = fill_form_bytes("form1", VALUES["form1"], messiness=random.Random(3))
    assert a == fill_form_bytes("form1", VALUES["form1"], messiness=random.Random(3))
    with pytest.raises(KeyError, match="nonsense"):
        fill_form_bytes("form1", {"nonsense": "x"})


# --------------------------------------------------------------------------- hand-made layouts


def _docx(rows: list[list[str]], title: str | None = "第五届中国质量奖申报表（组织）", merge_first: bool = False) -> bytes:
    doc = Document()
    if title:
        doc.add_paragraph(title)
    table = doc.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    if merge_first:
        table.cell(0, 1).merge(table.cell(0, 3))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_parser_finds_values_by_label_not_position() -> None:
    data = _docx(
        [
            ["", "", "", ""],
            ["统一社会信用代码：", CODE.lower(), "单 位 名 称", "某某公司"],
            ["是否国防工业、武器研发制造维修设计单位", "☐是 ☑否", "成立日期", "2005年3月18日"],
            ["联系人手机", "１３８ ００５７ １２３４", "从业人数", "1,200"],
            ["主要事迹简介", "", "", ""],
            ["坚持质量第一。", "", "", ""],
            ["电子邮箱：zw@example.com", "", "", ""],
        ]
    )
    parsed = parse_form(data)
    assert parsed.form_id == "form1"
    f = parsed.fields
    assert f["org_name"] == "某某公司"
    assert f["credit_code"] == CODE
    assert f["defence"] == "否"
    assert f["founded"] == "2005-03-18"
    assert f["contact_phone"] == "13800571234"
    assert f["summary"] == "坚持质量第一。"
    assert f["email"] == "zw@example.com"


def test_parser_skips_merged_duplicates_and_empty_values() -> None:
    data = _docx([["单位名称", "合并值", "", ""], ["所属行业", "", "单位性质", "民营企业"]], merge_first=True)
    parsed = parse_form(data)
    assert parsed.fields["org_name"] == "合并值"
    assert parsed.fields["industry"] == ""  # the next cell is another label, not a value
    assert parsed.fields["org_nature"] == "民营企业"


def test_parser_identifies_form_by_labels_without_title() -> None:
    rows = [["学校类型", "小学"], ["单位名称", "某小学"], ["统一社会信用代码", CODE], ["单位地址", "某路1号"]]
    assert parse_form(_docx(rows, title=None)).form_id == "form2"
    rows = [["姓名", "王芳"], ["身份证号码", ID_NUMBER], ["个人类别", "企业家"]]
    assert parse_form(_docx(rows, title=None)).form_id == "form5"
    with pytest.raises(FormError, match="无法识别"):
        parse_form(_docx([["随便", "什么"]], title=None), filename="x.docx")


def test_typed_field_problems() -> None:
    values = {
        **VALUES["form5"],
        "id_number": ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1"),
        "phone": "12345",
        "email": "not-an-email",
        "birth_date": "去年",
        "person_group": "领导",
        "credit_code": "",
    }
    parsed = parse_form(fill_form_bytes("form5", values))
    problems = {p.field: p for p in parsed.problems}
    assert set(problems) == {"id_number", "phone", "email", "birth_date", "person_group", "credit_code"}
    assert problems["id_number"].label == "身份证号码" and "校验码错误" in problems["id_number"].message
    assert problems["credit_code"].message == "必填项未填写"
    assert "一线工作人员/各类组织质量管理人员/质量领域专家学者" in problems["person_group"].message


# --------------------------------------------------------------------------- hostile and broken files


def _rezip(data: bytes, replace: dict[str, bytes], add: dict[str, bytes] | None = None, drop: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == drop:
                continue
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for name, blob in (add or {}).items():
            dst.writestr(name, blob)
    return out.getvalue()


GOOD = fill_form_bytes("form1", VALUES["form1"])
with zipfile.ZipFile(io.BytesIO(GOOD)) as _zf:
    DOC_XML = _zf.read("word/document.xml")
    CONTENT_TYPES = _zf.read("[Content_Types].xml")
XXE = DOC_XML.replace(
    b"?>", b'?>\n<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1
).replace("某".encode(), b"&xxe;", 1)
BILLION = DOC_XML.replace(b"?>", b'?>\n<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>', 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_rezip(GOOD, {"word/document.xml": XXE}), "DOCTYPE"),
        (_rezip(GOOD, {"word/document.xml": BILLION}), "DOCTYPE"),
        (
            _rezip(GOOD, {"word/styles.xml": b'<?xml version="1.0"?><!ENTITY x "y"><w:styles/>'}),
            "ENTITY",
        ),
        (_rezip(GOOD, {"word/document.xml": XXE.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")}), "DOCTYPE"),
        (_rezip(GOOD, {}, add={"word/vbaProject.bin": b"\x00" * 64}), "宏"),
        (
            _rezip(
                GOOD,
                {
                    "[Content_Types].xml": CONTENT_TYPES.replace(
                        b"wordprocessingml.document.main+xml", b"ms-word.document.macroEnabled.main+xml"
                    )
                },
            ),
            "docm",
        ),
        (b"this is not a zip file", "ZIP"),
        (GOOD[: len(GOOD) // 2], "ZIP"),
        (_rezip(GOOD, {}, drop="word/document.xml"), "word/document.xml"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".doc"),
        (_rezip(GOOD, {"word/document.xml": DOC_XML[:-40]}), "XML"),
    ],
    ids=["xxe", "billion-laughs", "entity-in-styles", "utf16-doctype", "vba", "docm", "not-zip", "truncated",
         "no-document", "old-doc", "broken-xml"],
)
def test_hostile_and_corrupt_files_are_rejected(data: bytes, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "申报表.docx"
    path.write_bytes(data)
    with pytest.raises(FormError) as info:
        parse_form(path)
    assert info.value.file == str(path)
    assert reason in info.value.message


def test_cli_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "a.docx"
    good.write_bytes(fill_form_bytes("form3", VALUES["form3"], messiness=random.Random(1)))
    assert award_main(["parse", str(good), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["file"] == str(good) and out["form_id"] == "form3" and out["category"] == "sme"
    assert out["fields"]["credit_code"] == CODE and out["problems"] == []

    bad = tmp_path / "bad.docx"
    bad.write_bytes(_rezip(GOOD, {"word/document.xml": XXE}))
    assert award_main(["parse", str(bad), "--json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["file"] == str(bad) and "DOCTYPE" in err["error"]


def test_cli_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert award_main(["validate", "credit-code", "91350100M000100Y43", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"valid": True, "normalized": "91350100M000100Y43", "reason": None}
    assert award_main(["validate", "id-number", "110105194912310021", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["reason"] == "身份证号码校验码错误，应为X"
    assert award_main(["validate", "id-number", "  ", "--json"]) == 2
    assert "error" in json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------- PDF copies


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_pdf_copy_round_trip(form_id: str, tmp_path: Path) -> None:
    path = tmp_path / "copy.pdf"
    render_pdf_copy(form_id, VALUES[form_id], path)
    fields = extract_pdf_fields(path.read_bytes())
    spec = form_spec(form_id)
    assert fields["form_id"] == form_id and fields["category"] == spec.category
    assert fields["name"] == VALUES[form_id][spec.name_field]
    assert fields["code"] == VALUES[form_id][spec.code_field]
    assert fields["publicity_start"] == "2023-04-17"
    assert fields["summary"].startswith("坚持质量第一。")


def test_pdf_copy_is_deterministic_and_other_pdfs_give_nothing() -> None:
    a = render_pdf_copy_bytes("form1", VALUES["form1"])
    assert a == render_pdf_copy_bytes("form1", VALUES["form1"])
    from award.forms.pdf import text_pdf_bytes

    assert extract_pdf_fields(text_pdf_bytes("证书", ["持有者：某某"])) == {}
    with pytest.raises(FormError):
        extract_pdf_fields(b"%PDF-1.4 garbage")
