"""Forms as applicants send them (issue 16 §1, §2, §4): LibreOffice PDFs, scans, SAMR layouts, edited forms."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_BREAK

from award.cli import main as award_main
from award.forms import FORM_IDS, extract_pdf_fields, fill_form_bytes, form_spec, parse_form
from award.forms.pdf import read_pdf_form
from award.forms.spec import form_by_title
from tests.forms.test_forms import CODE, ID_NUMBER, VALUES, expected
from tests.office import (
    W,
    edit_document,
    insert_row_after,
    needs_soffice,
    retype_label,
    scan_of,
    soffice,
    split_table_at,
)

KEYS = {"form1": ("org_name", "credit_code", "contact", "contact_phone"), "form5": ("name", "id_number", "phone")}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Filled forms exported to PDF by LibreOffice, and round-tripped docx -> odt -> doc -> docx, in few runs."""
    tmp = tmp_path_factory.mktemp("office")
    docx = {f"{f}.docx": fill_form_bytes(f, VALUES[f]) for f in FORM_IDS}
    docx["edited.docx"] = edited_form()
    docx["samr.docx"] = samr_annex()
    docx["samr-plain.docx"] = edit_document(samr_annex(), _no_borders)
    pdfs = soffice(docx, "pdf", tmp)
    odt = soffice({"edited.docx": docx["edited.docx"], "form5.docx": docx["form5.docx"]}, "odt", tmp)
    doc = soffice({n.replace(".docx", ".odt"): d for n, d in odt.items()}, "doc", tmp)
    back = soffice({n.replace(".odt", ".doc"): d for n, d in doc.items()}, "docx", tmp)
    out = {f"{Path(n).stem}.pdf": d for n, d in pdfs.items()}
    out.update({f"{Path(n).stem}.doc": d for n, d in doc.items()})
    out.update({f"{Path(n).stem}.roundtrip.docx": d for n, d in back.items()})
    return out


def edited_form() -> bytes:
    """form1 as an applicant edits it: a label retyped, a row inserted, the table split by a page break."""
    data = fill_form_bytes("form1", VALUES["form1"])
    data = edit_document(data, retype_label("统一社会信用代码", "社会信用代码"))
    data = edit_document(data, retype_label("联系人手机", "联系电话："))
    data = edit_document(data, insert_row_after("单位地址", ["备注", "本表由办公室填写", "", ""]))
    return edit_document(data, split_table_at("联系人"))


# --------------------------------------------------------------------------- §1 PDFs applicants make


@needs_soffice
@pytest.mark.parametrize("form_id", FORM_IDS)
def test_libreoffice_pdf_gives_the_key_fields(office: dict[str, bytes], form_id: str) -> None:
    fields = extract_pdf_fields(office[f"{form_id}.pdf"], name=f"{form_id}.pdf")
    spec = form_spec(form_id)
    assert fields["form_id"] == form_id and fields["category"] == spec.category
    assert fields["name"] == VALUES[form_id][spec.name_field]
    assert fields["code"] == VALUES[form_id][spec.code_field]  # wrapped over two lines in its cell
    for key in KEYS.get(form_id, KEYS["form1"]):
        assert fields[key] == VALUES[form_id][key], key
    pdf = read_pdf_form(office[f"{form_id}.pdf"])
    assert pdf.text_layer and pdf.form is not None
    assert pdf.fields == {k: v for k, v in expected(form_id).items() if k not in ("summary",)} | {
        "summary": expected(form_id)["summary"].replace("\n", "")}


@needs_soffice
def test_edited_form_pdf_is_read_too(office: dict[str, bytes]) -> None:
    fields = extract_pdf_fields(office["edited.pdf"])
    assert fields["credit_code"] == CODE and fields["contact_phone"] == VALUES["form1"]["contact_phone"]


@needs_soffice
def test_scan_has_no_text_layer(office: dict[str, bytes]) -> None:
    pdf = read_pdf_form(scan_of(office["form1.pdf"]))
    assert pdf.text_layer is False and pdf.form is None and pdf.fields == {}


# --------------------------------------------------------------------------- §2 forms that differ from ours


def _docx(paragraphs_before: list[str], tables: list[list[list[str]]], *, page_break_after_cover: bool = False,
          merges: list[tuple[int, int, int, int, int]] = ()) -> bytes:  # type: ignore[assignment]
    doc = Document()
    for text in paragraphs_before:
        doc.add_paragraph(text)
    if page_break_after_cover:
        doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    made = []
    for rows in tables:
        table = doc.add_table(rows=len(rows), cols=max(len(r) for r in rows))
        table.style = "Table Grid"  # ruled, as the SAMR annexes are
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                if text:
                    table.cell(r, c).text = text
        made.append(table)
    for t, r1, c1, r2, c2 in merges:
        made[t].cell(r1, c1).merge(made[t].cell(r2, c2))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize(("title", "form_id"), [
    ("中国质量奖（制造业、服务业、工程建设行业组织）申报表", "form1"),
    ("中国质量奖(教育机构)申报表", "form2"),
    ("第五届中国质量奖（中小企业）申报表", "form3"),
    ("中国质量奖（一线班组）申报表", "form4"),
    ("中国质量奖（个人）推荐表", "form5"),
    ("第五届中国质量奖申报表（组织）", "form1"),
])
def test_category_from_title_words(title: str, form_id: str) -> None:
    spec = form_by_title(title)
    assert spec is not None and spec.form_id == form_id
    # a form whose only clue is its title (labels of every form alike)
    data = _docx([title], [[["联系人", "张伟"], ["电子邮箱", "zw@example.com"]]])
    assert parse_form(data).form_id == form_id


def test_renamed_credit_code_label_keeps_the_code() -> None:
    data = edit_document(fill_form_bytes("form1", VALUES["form1"]), retype_label("统一社会信用代码", "社会信用代码"))
    parsed = parse_form(data)
    assert parsed.fields["credit_code"] == CODE and parsed.key == CODE and parsed.missing == []


@pytest.mark.parametrize("label", ["信用代码", "统一代码", "统一社会信用代码（18位）", "统 一 社 会 信 用 代 码：",
                                   "统一社会信用代码:", "＊统一社会信用代码"])
def test_credit_code_label_variants(label: str) -> None:
    data = edit_document(fill_form_bytes("form3", VALUES["form3"]), retype_label("统一社会信用代码", label))
    assert parse_form(data).fields["credit_code"] == CODE


def test_synonyms_for_name_and_phone() -> None:
    data = fill_form_bytes("form1", VALUES["form1"])
    data = edit_document(data, retype_label("单位名称", "单位名称（盖章）"))
    data = edit_document(data, retype_label("联系人手机", "手机"))
    parsed = parse_form(data)
    assert parsed.fields["org_name"] == VALUES["form1"]["org_name"]
    assert parsed.fields["contact_phone"] == VALUES["form1"]["contact_phone"]
    data = edit_document(fill_form_bytes("form5", VALUES["form5"]), retype_label("手机", "联系电话"))
    assert parse_form(data).fields["phone"] == VALUES["form5"]["phone"]


def test_label_split_over_two_cells_and_value_below() -> None:
    rows = [
        ["单位", "名称", "某某精密机械有限公司", ""],  # a label split over two cells
        ["统一社会", "", "联系人", "张伟"],  # ... and over two rows (value right of its first half)
        ["信用代码", CODE, "", ""],
        ["联系电话", "电子邮箱", "成立日期", ""],  # a header row: the values are in the cells below
        ["13800571234", "zw@example.com", "2005年3月18日", ""],
    ]
    parsed = parse_form(_docx(["中国质量奖（制造业、服务业、工程建设行业组织）申报表"], [rows]))
    f = parsed.fields
    assert f["org_name"] == "某某精密机械有限公司"
    assert f["credit_code"] == CODE
    assert f["contact"] == "张伟"
    assert (f["contact_phone"], f["email"], f["founded"]) == ("13800571234", "zw@example.com", "2005-03-18")


def test_merged_cells() -> None:
    rows = [
        ["单位名称", "某某公司", "", ""],
        ["主要事迹简介", "坚持质量第一。", "", ""],
        ["", "持续改进。", "", ""],
        ["联系人", "张伟", "联系人手机", "13800571234"],
    ]
    # value merged across three columns; the summary label merged down two rows
    data = _docx(["中国质量奖（制造业、服务业、工程建设行业组织）申报表"], [rows],
                 merges=[(0, 0, 1, 0, 3), (0, 1, 0, 2, 0)])
    parsed = parse_form(data)
    assert parsed.fields["org_name"] == "某某公司"
    assert parsed.fields["summary"] == "坚持质量第一。"
    assert parsed.fields["contact_phone"] == "13800571234"


@pytest.mark.parametrize(("cells", "value"), [
    (["☐国有企业 ☑民营企业 ☐外资企业"], "民营企业"),
    (["□国有企业", "■民营企业", "□外资企业"], "民营企业"),  # one option per cell
    (["国有企业□ 民营企业√ 其他□"], "民营企业"),
    (["国有企业（ ） 民营企业（✔） 其他（ ）"], "民营企业"),
    (["√事业单位 □其他"], "事业单位"),
    (["□国有企业 □民营企业"], ""),  # nothing ticked: unanswered
])
def test_check_box_answers(cells: list[str], value: str) -> None:
    rows = [["单位性质", *cells], ["是否军工/涉密单位", "☐是 ✔否", *[""] * (len(cells) - 1)]]
    parsed = parse_form(_docx(["中国质量奖（制造业、服务业、工程建设行业组织）申报表"], [rows]))
    assert parsed.fields["org_nature"] == value
    assert parsed.fields["defence"] == "否"
    if not value:
        assert any(p.field == "org_nature" and "未勾选" in p.message for p in parsed.problems)


def test_wingdings_check_box_symbols() -> None:
    """Word's Insert > Symbol check boxes are w:sym elements (Wingdings 2), not text."""
    def tick(root) -> None:  # type: ignore[no-untyped-def]
        from lxml import etree

        for tc in root.iter(f"{W}tc"):
            if "".join(t.text or "" for t in tc.iter(f"{W}t")) == "是 否":
                p = tc.find(f"{W}p")
                for r in list(p.iter(f"{W}r")):
                    p.remove(r)
                for char, text in (("F0A3", "是 "), ("F052", "否")):
                    sym = etree.SubElement(etree.SubElement(p, f"{W}r"), f"{W}sym")
                    sym.set(f"{W}font", "Wingdings 2")
                    sym.set(f"{W}char", char)
                    etree.SubElement(etree.SubElement(p, f"{W}r"), f"{W}t").text = text
    data = _docx(["中国质量奖（制造业、服务业、工程建设行业组织）申报表"], [[["是否军工/涉密单位", "是 否"]]])
    assert parse_form(edit_document(data, tick)).fields["defence"] == "否"


def test_field_not_found_is_reported_by_its_label() -> None:
    def drop_row(root) -> None:  # type: ignore[no-untyped-def]
        for tr in root.iter(f"{W}tr"):
            if any("".join(t.text or "" for t in tc.iter(f"{W}t")) == "电子邮箱" for tc in tr.iter(f"{W}tc")):
                tr.getparent().remove(tr)
                return
    parsed = parse_form(edit_document(fill_form_bytes("form1", VALUES["form1"]), drop_row))
    assert parsed.missing == ["email"]
    problem = next(p for p in parsed.problems if p.field == "email")
    assert problem.label == "电子邮箱" and "未找到" in problem.message
    assert parsed.as_dict()["missing"] == [{"field": "email", "label": "电子邮箱"}]
    # a field present but left empty is not "not found"
    empty = parse_form(fill_form_bytes("form1", {**VALUES["form1"], "email": ""}))
    assert empty.missing == [] and next(p for p in empty.problems if p.field == "email").message == "必填项未填写"


def test_edited_form_reads_the_same() -> None:
    parsed = parse_form(edited_form())
    assert parsed.form_id == "form1" and parsed.fields == expected("form1") and parsed.problems == []


@needs_soffice
def test_libreoffice_doc_round_trip_reads_the_same(office: dict[str, bytes]) -> None:
    assert office["edited.doc"][:4] == b"\xd0\xcf\x11\xe0"
    parsed = parse_form(office["edited.roundtrip.docx"])
    assert parsed.fields == expected("form1") and parsed.problems == []
    parsed = parse_form(office["form5.roundtrip.docx"])
    assert parsed.fields == expected("form5") and parsed.problems == []


def samr_annex() -> bytes:
    """A form laid out like the SAMR annexes: a cover page, then tables in numbered sections."""
    cover = ["附件3", "", "中国质量奖", "（中小企业）", "申  报  表", "", "申报组织名称（盖章）：星辰精工股份有限公司",
             "推荐单位（盖章）：甘肃省市场监督管理局", "填报日期：2023年5月10日", "国家市场监督管理总局制"]
    section1 = [
        ["一、基本情况", "", "", ""],
        ["组织名称", "星辰精工股份有限公司", "", ""],
        ["统一社会信用代码", CODE, "成立时间", "2005年3月18日"],
        ["通讯地址", "兰州市城关区金昌南路1号", "", ""],
        ["所属行业", "通用设备制造业", "企业性质", "☑民营企业 □国有企业 □外资企业"],
        ["从业人数（人）", "250", "上年度营业收入（万元）", "12,000.5"],
    ]
    section2 = [
        ["二、联系方式", "", "", ""],
        ["联系人", "张伟", "手机", "138 0057 1234"],
        ["电子邮箱", "zw@example.com", "所在地区", "兰州市"],
        ["三、主要事迹", "", "", ""],
        ["坚持质量第一。", "", "", ""],
    ]
    merges = [(0, 0, 0, 0, 3), (0, 1, 1, 1, 3), (0, 3, 1, 3, 3), (1, 0, 0, 0, 3), (1, 3, 0, 3, 3), (1, 4, 0, 4, 3)]
    return _docx(cover, [section1, section2], page_break_after_cover=True, merges=merges)


def test_samr_annex_layout() -> None:
    parsed = parse_form(samr_annex())
    assert parsed.form_id == "form3"
    f = parsed.fields
    assert f["org_name"] == "星辰精工股份有限公司"
    assert f["credit_code"] == CODE
    assert f["founded"] == "2005-03-18" and f["org_nature"] == "民营企业"
    assert (f["employees"], f["revenue"]) == ("250", "12000.5")
    assert (f["contact"], f["contact_phone"], f["email"], f["city"]) == (
        "张伟", "13800571234", "zw@example.com", "兰州市")
    assert f["address"] == "兰州市城关区金昌南路1号"
    assert f["summary"] == "坚持质量第一。"  # under the section heading 三、主要事迹
    # what the annex does not ask is reported by label, not invented
    assert {"defence", "violations", "quality_model", "publicity_start"} <= set(parsed.missing)


def _no_borders(root) -> None:  # type: ignore[no-untyped-def]
    for style in list(root.iter(f"{W}tblStyle")):
        style.getparent().remove(style)


@needs_soffice
@pytest.mark.parametrize("name", ["samr.pdf", "samr-plain.pdf"])
def test_samr_annex_layout_as_pdf(office: dict[str, bytes], name: str) -> None:
    """Ruled tables give their cells; a table without borders is read from word positions (wrapped values)."""
    pdf = read_pdf_form(office[name])
    word = parse_form(samr_annex())
    assert pdf.form_id == "form3"
    for key in ("org_name", "credit_code", "contact", "contact_phone", "email", "founded", "org_nature", "summary",
                "address", "employees", "revenue"):
        assert pdf.fields[key] == word.fields[key], key


# --------------------------------------------------------------------------- §4 award parse


@needs_soffice
def test_cli_parse_pdf_doc_and_wps(office: dict[str, bytes], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "申报表.pdf"
    pdf.write_bytes(office["form5.pdf"])
    assert award_main(["parse", str(pdf), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "pdf" and out["text_layer"] is True and out["form_id"] == "form5"
    assert out["fields"]["name"] == "王芳"
    assert out["fields"]["id_number"] != ID_NUMBER and out["fields"]["id_number"].endswith(ID_NUMBER[-4:])
    assert VALUES["form5"]["phone"] not in json.dumps(out)

    scan = tmp_path / "扫描件.pdf"
    scan.write_bytes(scan_of(office["form5.pdf"]))
    assert award_main(["parse", str(scan), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text_layer"] is False and out["fields"] == {} and out["form_id"] is None

    for suffix in (".doc", ".wps"):  # WPS Writer's .wps is the same OLE word-processing format
        path = tmp_path / f"申报表{suffix}"
        path.write_bytes(office["form5.doc"])
        assert award_main(["parse", str(path), "--json", "--show-pii"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["format"] == suffix[1:] and out["form_id"] == "form5"
        assert out["fields"]["id_number"] == ID_NUMBER and out["fields"]["phone"] == VALUES["form5"]["phone"]


def test_cli_parse_masks_pii_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.docx"
    path.write_bytes(fill_form_bytes("form5", VALUES["form5"]))
    assert award_main(["parse", str(path)]) == 0
    human = capsys.readouterr().out
    assert ID_NUMBER not in human and VALUES["form5"]["phone"] not in human and "王芳" in human
    assert award_main(["parse", str(path), "--json", "--show-pii"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fields"]["id_number"] == ID_NUMBER and out["format"] == "docx" and out["missing"] == []
    bad = tmp_path / "a.txt"
    bad.write_text("hello")
    assert award_main(["parse", str(bad), "--json"]) == 2
    assert ".docx" in json.loads(capsys.readouterr().out)["error"]
