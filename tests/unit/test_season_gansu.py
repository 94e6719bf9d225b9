"""The Gansu 2023 season (甘质强组办〔2023〕5号) as the shipped default; a second province proves nothing is
hard-coded; `award season check` names the key of a bad season and simulates the stages; blank forms print
their options; the paper/USB receipt; `award check DIR --json`."""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import docx
import pytest
import yaml

from award.cli import main as award_main
from award.config import DEFAULT_SEASON_FILE, load_season, parse_season
from award.forms.docx_io import template_bytes
from award.forms.spec import FORM_IDS, form_spec
from tests.seasons import ZHEJIANG

ROOT = Path(__file__).resolve().parents[2]
SEASON = load_season()


def test_the_shipped_season_is_gansu_2023() -> None:
    unit = SEASON.recommending_unit
    assert unit.name == "甘肃省质量强省建设协调推进领导小组办公室"
    assert unit.handled_by == "省市场监管局质量发展局"
    assert unit.contact == "鲁永武、王宏"
    assert (unit.phone, unit.fax, unit.postcode) == ("0931-8533511", "0931-8533548", "730030")
    assert unit.address == "兰州市城关区金昌南路279号"
    assert unit.doc_prefix == "甘质强组办〔2023〕"
    assert SEASON.dates.provincial_deadline == datetime.fromisoformat("2023-05-25T17:00:00+08:00")
    assert str(SEASON.national.recipient_email) == "zgzlj@samr.gov.cn"
    assert SEASON.national.postal_address == "北京市东城区安定门外大街56号" and SEASON.national.postcode == "100011"


def test_recommending_units_are_first_class() -> None:
    cities = ["兰州市", "嘉峪关市", "金昌市", "白银市", "天水市", "武威市", "张掖市", "平凉市", "酒泉市", "庆阳市",
              "定西市", "陇南市", "临夏回族自治州", "甘南藏族自治州"]
    assert SEASON.province.cities == cities
    by_kind: dict[str, list[str]] = {}
    for u in SEASON.recommending_units:
        by_kind.setdefault(u.kind, []).append(u.name)
        assert {"name", "contact", "address"} <= set(type(u).model_fields)
    assert [u.city for u in SEASON.recommending_units if u.kind == "city"] == cities
    assert set(by_kind["district"]) == {"兰州新区市场监督管理局", "矿区市场监督管理局"}
    assert len(by_kind["member"]) >= 10  # the leadership group's member departments, as a list
    assert SEASON.find_unit("兰州新区").name == "兰州新区市场监督管理局"  # type: ignore[union-attr]
    assert SEASON.find_unit("临夏州").name == "临夏回族自治州市场监督管理局"  # type: ignore[union-attr]


def test_process_settings_of_gansu() -> None:
    p = SEASON.process
    assert (p.first_round, p.unit_opinion, p.paper_copies, p.usb_required) == (
        "recommending_unit", "every_application", 3, True)
    assert [s.id for s in p.stages] == ["completeness", "scores", "candidate_publicity", "approval", "package"]


def test_no_province_left_in_code_or_templates() -> None:
    """Place names, units and numbers of a province live in season files only."""
    places = [c for season in (SEASON, load_season(ZHEJIANG)) for c in season.province.cities]
    words = re.compile(r"浙江|浙市监|杭州|宁波|0571|甘肃|甘质强|兰州|0931|730030|鲁永武|8533511|"
                       + "|".join(re.escape(c) for c in places))
    offenders = []
    for folder in ("include/award", "dags", "plugins"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".yaml", ".j2", ".html", ".txt") or "seasons" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if words.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_a_second_province_runs_on_the_same_code() -> None:
    other = load_season(ZHEJIANG)
    assert other.province.name == "浙江省" and other.recommending_unit.doc_prefix.startswith("浙")
    assert other.process.first_round == "province" and other.process.unit_opinion == "city_uploads"
    assert other.find_unit("杭州市").name == "杭州市市场监督管理局"  # type: ignore[union-attr]
    assert SEASON.find_unit("杭州市") is None


def test_demo_season_is_gansu_on_example_domains() -> None:
    from award.demo.setup import demo_season_data

    data = demo_season_data(date(2026, 11, 2))
    season = parse_season(data, Path("demo.yaml"))
    assert season.recommending_unit.name == SEASON.recommending_unit.name
    addresses = re.findall(r"[\w.+-]+@[\w.-]+", yaml.safe_dump(data, allow_unicode=True))
    assert addresses and all(a.rsplit("@", 1)[1].endswith(".example") for a in addresses)
    assert str(season.national.recipient_email) == "zgzlj@samr.example"
    assert all(u.contact and u.address and u.email for u in season.recommending_units)


# ------------------------------------------------------------------ award season check


def _season_file(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "season.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    rc = award_main(["season", "check", str(path), "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_season_check_passes_and_simulates_gansu(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _check(DEFAULT_SEASON_FILE, capsys)
    assert rc == 0 and out["simulation"]["fits"]
    assert out["simulation"]["export_due"].startswith("2023-06-12T09:00")
    assert out["simulation"]["stages"][-1]["end"] < "2023-06-12"


def _by_unit(d: dict) -> None:  # type: ignore[type-arg]
    d["process"]["by_unit"] = {"xinqu": "province"}


def _outside(d: dict) -> None:  # type: ignore[type-arg]
    d["province"]["cities"].append("杭州市")
    d["province"]["city_codes"]["杭州市"] = "3301"


def _excluded(d: dict) -> None:  # type: ignore[type-arg]
    d["categories"]["education"]["choices"] = {"school_type": ["小学", "普通高中"]}


def _unit_city(d: dict) -> None:  # type: ignore[type-arg]
    d["recommending_units"][0]["city"] = "杭州市"


def _first_round_at_province(d: dict) -> None:  # type: ignore[type-arg]
    d["process"]["first_round"] = "province"


@pytest.mark.parametrize(("change", "key"), [
    (_by_unit, "process.by_unit.xinqu"),
    (_outside, "province.cities"),
    (_excluded, "categories.education.choices.school_type"),
    (_unit_city, "recommending_units.0.city"),
    (_first_round_at_province, "process.stages"),
])
def test_season_check_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], change,  # type: ignore[no-untyped-def]
                                             key: str) -> None:
    rc, out = _check(_season_file(tmp_path, change), capsys)
    assert rc == 2 and f": {key}: " in out["error"] + ": ", out


def test_stages_that_cannot_fit_say_when_they_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the province consulting and publicising itself, an application completed on 5/25 ends after 6/12."""
    rc, out = _check(_season_file(tmp_path, _first_round_at_province), capsys)
    assert rc == 2 and "2023-05-25" in out["error"] and "2023-06-12 09:00" in out["error"]
    assert "first_publicity" in out["error"] and "candidate_publicity" in out["error"]


# ------------------------------------------------------------------ blank forms


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_blank_forms_print_every_choice_fields_options(form_id: str) -> None:
    doc = docx.Document(io.BytesIO(template_bytes(form_id)))
    cells = [c.text for row in doc.tables[0].rows for c in row.cells]
    for f in form_spec(form_id).fields:
        if f.type == "choice":
            assert any(all(f"☐{o}" in text for o in f.options) for text in cells), f.key


def test_individual_form_speaks_the_notices_words() -> None:
    f = form_spec("form5")
    assert f.field("person_group").options == ("一线工作人员", "各类组织质量管理人员", "质量领域专家学者")
    assert {"defence", "other_channels"} <= set(f.keys)
    assert form_spec("form2").field("school_type").options == ("小学", "初中", "职业技术学校")


def test_five_years_everywhere() -> None:
    letter = (ROOT / "include/award/opinions/templates/opinions/opinion_request.docx.j2").read_text(encoding="utf-8")
    assert "近三年" not in letter and "近5年" in letter
    from award.forms.spec import all_forms, declaration_text

    printed = [f.label for spec in all_forms().values() for f in spec.fields] + list(declaration_text())
    assert not any("近五年" in t or "近三年" in t for t in printed) and any("近5年" in t for t in printed)
