"""Season configuration: the example loads; typos and missing keys fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from award.config import DEFAULT_SEASON_FILE, SeasonConfigError, load_season


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "season.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_example_season_loads() -> None:
    season = load_season()
    assert season.season_id == "cqa-5-2023"
    assert season.dates.provincial_deadline.isoformat() == "2023-05-25T17:00:00+08:00"
    assert season.dates.national_deadline.date().isoformat() == "2023-06-19"
    assert set(season.categories) == {"organization", "education", "sme", "team", "individual"}
    assert season.publicity.min_workdays == 5


def test_typo_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["publicity"].update(min_workday=5))
    with pytest.raises(SeasonConfigError, match=r"publicity\.min_workday: unknown key"):
        load_season(path)


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["dates"].pop("national_deadline"))
    with pytest.raises(SeasonConfigError, match=r"dates\.national_deadline: required key is missing"):
        load_season(path)


def test_wrong_value_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["quotas"]["organization"].update(places=-1))
    with pytest.raises(SeasonConfigError, match=r"quotas\.organization\.places"):
        load_season(path)


def test_unknown_category_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["categories"].update(hospital=d["categories"]["sme"]))
    with pytest.raises(SeasonConfigError, match=r"categories\.hospital"):
        load_season(path)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SeasonConfigError, match="not found"):
        load_season(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n", encoding="utf-8")
    with pytest.raises(SeasonConfigError, match="not valid YAML"):
        load_season(bad)
