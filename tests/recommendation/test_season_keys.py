"""The recommendation stage's season keys: the national contact's mobile, the addressee, the 汇总表 columns, the
letters' issuers, the quota as one number per group, and priority winners with their year and award."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from award.config import DEFAULT_SEASON_FILE, SeasonConfigError, load_season


def _write(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "season.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _season_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "award.cli", "season", "check", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)


def test_season_check_warns_while_the_mobile_is_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["national"].pop("contact_mobile", None))
    out = _season_check(path)
    assert out.returncode == 0, out.stderr
    warnings = json.loads(out.stdout)["warnings"]
    assert any(w.startswith("national.contact_mobile: missing") for w in warnings)
    ok = _season_check(_write(tmp_path, lambda d: d["national"].update(contact_mobile="139 0000 0000")))
    assert not [w for w in json.loads(ok.stdout)["warnings"] if w.startswith("national.contact_mobile")]
    assert load_season(tmp_path / "season.yaml").national.contact_mobile == "13900000000"


@pytest.mark.parametrize("landline", ["0931-8533511", "09318533511", "8533511"])
def test_season_check_refuses_a_landline_naming_the_key(tmp_path: Path, landline: str) -> None:
    path = _write(tmp_path, lambda d: d["national"].update(contact_mobile=landline))
    out = _season_check(path)
    assert out.returncode == 2
    error = json.loads(out.stdout)["error"]
    assert "national.contact_mobile" in error and "not a mobile" in error
    with pytest.raises(SeasonConfigError, match=r"national\.contact_mobile"):
        load_season(path)


def test_season_check_warns_when_the_subject_would_name_several_contacts(tmp_path: Path) -> None:
    def change(d: dict) -> None:  # type: ignore[type-arg]
        d["recommending_unit"]["contact"] = "鲁永武、王宏"
        d["national"]["contact_mobile"] = "13900000000"
        d["national"].pop("contact_name", None)

    warnings = json.loads(_season_check(_write(tmp_path, change)).stdout)["warnings"]
    assert any(w.startswith("national.contact_name: missing") for w in warnings)


def test_shipped_season_addressee_and_summary_columns() -> None:
    national = load_season().national
    assert national.recipient_name == "中国质量奖评选表彰委员会秘书处"
    assert national.recipient_office == "市场监管总局质量发展局质量管理处"
    assert (national.postal_address, national.postcode) == ("北京市东城区安定门外大街56号", "100011")
    assert [c.field for c in national.summary_columns] == [
        "nn", "name", "category", "city", "work_unit", "recommending_unit", "contact", "phone"]


def test_summary_column_typo_and_bad_postcode_are_named(tmp_path: Path) -> None:
    with pytest.raises(SeasonConfigError, match=r"national\.summary_columns\.1\.field"):
        load_season(_write(tmp_path, lambda d: d["national"].update(summary_columns=["nn", "score"])))
    with pytest.raises(SeasonConfigError, match=r"national\.postcode"):
        load_season(_write(tmp_path, lambda d: d["national"].update(postcode="10001")))


def test_quota_is_one_number_per_group_and_legacy_tiers_add_up(tmp_path: Path) -> None:
    assert load_season().quotas["organization"].places == 6
    legacy = load_season(_write(tmp_path, lambda d: d["quotas"].update(individual={"award": 1, "nomination": 2})))
    assert legacy.quotas["individual"].places == 3
    plain = load_season(_write(tmp_path, lambda d: d["quotas"].update(individual=4)))
    assert plain.quotas["individual"].places == 4


def test_priority_winner_needs_year_and_award(tmp_path: Path) -> None:
    winner = load_season().priority_winners[0]
    assert winner.year and winner.award
    with pytest.raises(SeasonConfigError, match=r"priority_winners\.0\.year: required key is missing"):
        load_season(_write(tmp_path, lambda d: d["priority_winners"][0].pop("year")))


def test_letters_default_to_the_recommending_unit_and_take_the_season(tmp_path: Path) -> None:
    shipped = load_season().package_letters  # 甘质强组办〔2023〕5号: the leadership group's 推荐意见, the bureau's 审核意见
    assert (shipped.recommendation.issuer, shipped.audit_opinion.issuer) == (
        "甘肃省质量强省建设协调推进领导小组", "甘肃省市场监督管理局")
    season = load_season(_write(tmp_path, lambda d: d.pop("letters")))
    assert season.package_letters.recommendation.issuer == season.recommending_unit.name
    letters = {"recommendation": {"issuer": "某省质量强省工作领导小组", "signature": "某省质量强省工作领导小组"},
               "audit_opinion": {"issuer": "某省市场监督管理局", "signature": "某省市场监督管理局",
                                 "body": ["经审核，同意推荐。"]}}
    custom = load_season(_write(tmp_path, lambda d: d.update(letters=letters)))
    assert custom.package_letters.recommendation.issuer == "某省质量强省工作领导小组"
    assert custom.package_letters.audit_opinion.body == ["经审核，同意推荐。"]
    with pytest.raises(SeasonConfigError, match=r"letters\.audit_opinion\.signature: required key is missing"):
        load_season(_write(tmp_path, lambda d: d.update(
            letters={**letters, "audit_opinion": {"issuer": "某省市场监督管理局"}})))


def test_demo_season_fills_an_example_mobile() -> None:
    from datetime import date

    from award.config import parse_season
    from award.demo.setup import demo_season_data

    season = parse_season(demo_season_data(date(2026, 3, 2)))
    assert season.national.contact_mobile
    assert not [w for w in season.season_warnings() if w.startswith("national.contact_mobile")]
