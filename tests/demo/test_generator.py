"""Tests for award.demo.generator: layout, determinism, defects, and that its forms parse back."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from award.calendar import default_calendar
from award.cli import main as award_main
from award.config import load_season
from award.demo import DEFECTS, generate
from award.forms import extract_pdf_fields, parse_form

SEASON = load_season()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen")
    generate(out, 60, 5, season=SEASON, defect_share=1.0)
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", 12, 99, season=SEASON, defect_share=0.5)
    generate(tmp_path / "b", 12, 99, season=SEASON, defect_share=0.5)
    generate(tmp_path / "c", 12, 100, season=SEASON, defect_share=0.5)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a != c


def test_layout_and_manifest(generated: tuple[Path, dict]) -> None:
    out, manifest = generated
    apps = manifest["applications"]
    assert manifest["count"] == len(apps) == 60 and manifest["season_id"] == "cqa-5-2023"
    for app in apps:
        for f in app["files"]:
            assert (out / f).is_file(), f
        names = [Path(f).name for f in app["files"]]
        assert sum(n.endswith("申报表.docx") for n in names) == 1
        assert any(n.startswith("证实性材料") for n in names)
        if app["channel"] == "mail":
            assert app["folder"].startswith("mail/")
            meta = json.loads((out / app["folder"] / "meta.json").read_text(encoding="utf-8"))
            assert meta["subject"] == f"第五届中国质量奖申报材料-{app['name']}"
            assert meta["from"] == app["sender"] and meta["sent_at"] == app["sent_at"]
            assert meta["attachments"] == names
        else:
            assert app["folder"] == f"city/{app['city']}/{app['name']}"
            assert app["city"] in SEASON.province.cities
    cities = {a["city"] for a in apps if a["channel"] == "city"}
    assert set(manifest["city_letters"]) == cities
    for city, rel in manifest["city_letters"].items():
        assert rel == f"city/{city}/{city}推荐函.pdf" and (out / rel).is_file()


def test_every_defect_appears_and_is_real(generated: tuple[Path, dict]) -> None:
    out, manifest = generated
    apps = manifest["applications"]
    seen = {d for a in apps for d in a["defects"]}
    assert seen == set(DEFECTS)
    calendar = default_calendar()
    deadline = SEASON.dates.provincial_deadline
    keys_by_channel: dict[str, set[str]] = {"mail": set(), "city": set()}
    for app in apps:
        defects = app["defects"]
        assert len(defects) == 1
        f = app["fields"]
        names = [Path(p).name for p in app["files"]]
        keys_by_channel[app["channel"]].add(app["key"])
        workdays = calendar.count_workdays(date.fromisoformat(f["publicity_start"]), date.fromisoformat(f["publicity_end"]))
        assert (workdays < 5) == ("short_publicity" in defects)
        if app["sent_at"]:
            assert (datetime.fromisoformat(app["sent_at"]) > deadline) == ("late" in defects)
        if "missing_material" in defects:
            assert "内部公示情况说明.pdf" not in names or not any(n.endswith("申报表.pdf") for n in names)
        else:
            assert "内部公示情况说明.pdf" in names and any(n.endswith("申报表.pdf") for n in names)
        if "defence_industry" in defects:
            assert f["defence"] == "是"
        elif "defence" in f:
            assert f["defence"] == "否"
        if app["category"] == "education":
            assert (f["school_type"] in ("普通高中", "高等学校")) == ("ineligible_school" in defects)
            assert f["school_type"] != "其他"
    pairs = [a for a in apps if "two_channels" in a["defects"]]
    assert pairs and {a["channel"] for a in pairs} == {"mail", "city"}
    assert all(a["key"] in keys_by_channel["mail"] & keys_by_channel["city"] for a in pairs)


def test_generated_forms_and_pdfs_parse_back(generated: tuple[Path, dict]) -> None:
    out, manifest = generated
    assert any(a["messy"] for a in manifest["applications"])
    for app in manifest["applications"]:
        docx = next(f for f in app["files"] if f.endswith(".docx"))
        parsed = parse_form(out / docx)
        assert parsed.form_id == app["form_id"] and parsed.fields == app["fields"]
        assert parsed.key == app["key"] and parsed.name == app["name"]
        problem_fields = {p.field for p in parsed.problems}
        # a broken check character, or a school type the notice excludes (no option of the form)
        assert bool(problem_fields) == bool({"bad_check_char", "ineligible_school"} & set(app["defects"]))
        assert problem_fields <= {"credit_code", "id_number", "school_type"}
        pdf = next((f for f in app["files"] if f.endswith("申报表.pdf")), None)
        if pdf:
            copy = extract_pdf_fields((out / pdf).read_bytes())
            assert (copy["name"] != app["name"]) == ("pdf_mismatch" in app["defects"])
            assert copy["key"] == app["key"] or "pdf_mismatch" in app["defects"]


def test_single_channel_and_validation(tmp_path: Path) -> None:
    result = generate(tmp_path / "m", 8, 1, season=SEASON, defect_share=1.0, channels=("mail",))
    assert {a.channel for a in result.applications} == {"mail"}
    assert not any("two_channels" in a.defects for a in result.applications)
    assert not (tmp_path / "m" / "city").exists()
    with pytest.raises(ValueError, match="channels"):
        generate(tmp_path / "x", 1, 1, season=SEASON, channels=("fax",))
    with pytest.raises(ValueError, match="defect_share"):
        generate(tmp_path / "x", 1, 1, season=SEASON, defect_share=2)


def test_cli_demo_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    args = ["demo", "generate", "--count", "6", "--seed", "2", "--out", str(out), "--json"]
    assert award_main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 6 and sum(summary["by_category"].values()) == 6
    assert (out / "manifest.json").is_file()
    assert award_main(args) == 2  # not empty any more
    assert "not empty" in json.loads(capsys.readouterr().out)["error"]
    assert award_main(["demo", "generate", "--count", "1", "--seed", "1", "--out", str(tmp_path / "y"), "--defects", "1.5", "--json"]) == 2


def test_demo_season_moves_dates_and_document_numbers_to_this_year(tmp_path: Path) -> None:
    from award.config import parse_season
    from award.demo.setup import demo_calendar_overrides, demo_season_data

    # the demo runs the first round itself (award demo play): from December on it reaches the next year
    data = demo_season_data(date(2026, 12, 2), demo_calendar_overrides(tmp_path / "calendar", date(2026, 12, 2)))
    season = parse_season(data, Path("demo.yaml"))
    assert season.season_id == "demo-2026"
    assert season.recommending_unit.doc_prefix == "甘质强组办〔2026〕"  # letters are numbered in the demo's year
    assert season.dates.provincial_deadline.date() > date(2026, 12, 2)


def test_demo_runs_into_a_year_the_calendar_does_not_know(tmp_path: Path) -> None:
    """make run on 2026-12-05: the season reaches 2027, which chinesecalendar 1.11 lacks. The demo writes its
    labelled stand-in schedule into the demo folder only; production still refuses the unknown year."""
    import pytest

    from award.calendar import UnknownYearError, default_calendar
    from award.config import parse_season
    from award.demo.setup import demo_calendar_overrides, demo_season_data

    files = demo_calendar_overrides(tmp_path / "calendar", date(2026, 12, 5))
    assert [Path(f).name for f in files] == ["demo-2027.yaml"]
    assert "演示用假定安排" in Path(files[0]).read_text(encoding="utf-8")
    season = parse_season(demo_season_data(date(2026, 12, 5), files), Path("demo.yaml"))
    assert season.dates.national_deadline.year == 2027 and season.calendar_overrides[-1] == files[0]
    assert default_calendar(tuple(season.calendar_overrides)).is_workday(date(2027, 1, 4))
    with pytest.raises(UnknownYearError):
        default_calendar().is_workday(date(2027, 1, 4))
