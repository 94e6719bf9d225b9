"""The `award` command's core contract: JSON output, exit 2 with a JSON error naming the file, no writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from award.config import DEFAULT_SEASON_FILE


def award(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    import os

    return subprocess.run([sys.executable, "-m", "award.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_season_check_names_the_key(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"))
    data["publicty"] = data.pop("publicity")
    bad = tmp_path / "s.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = award("season", "check", str(bad), "--json")
    assert out.returncode == 2
    err = json.loads(out.stdout)
    assert "publicty: unknown key" in err["error"] and "publicity: required key is missing" in err["error"]
    assert err["file"] == str(bad)


def test_status_and_db_upgrade(tmp_path: Path) -> None:
    env = {"AWARD_DATA_DIR": str(tmp_path)}
    assert award("db", "upgrade", "--json", env=env).returncode == 0
    out = award("status", "--json", env=env)
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"season": "cqa-5-2023", "total": 0, "states": {}}


def _bare_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AWARD_")}


def test_status_without_a_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nowhere"
    out = subprocess.run([sys.executable, "-m", "award.cli", "status"], capture_output=True, text=True,
                         env={**_bare_env(), "AWARD_DATA_DIR": str(data)}, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "award db upgrade" in out.stderr and "Traceback" not in out.stderr
    assert not data.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["show", "GS-2023-0001"], ["publicity", "objections"], ["publicity", "assign", "1", "GS-2023-0001", "--actor", "a"],
    ["intake", "release", "1", "--actor", "a"], ["withdraw", "GS-2023-0001", "--actor", "a", "--reference", "r"],
    ["review", "GS-2023-0001", "--actor", "a", "--note", "n"], ["outbox", "show"], ["paper", "missing"],
], ids=lambda c: " ".join(c[:2]))
def test_every_store_command_without_a_store_says_so_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    """Issue 15 §5: no traceback and no empty database made by whichever command runs first."""
    data = tmp_path / "nowhere"
    out = subprocess.run([sys.executable, "-m", "award.cli", *command], capture_output=True, text=True,
                         env={**_bare_env(), "AWARD_DATA_DIR": str(data)}, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "award db upgrade" in out.stderr and "Traceback" not in out.stderr
    assert not data.exists() and list(tmp_path.iterdir()) == []


def test_blobs_verify_without_a_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nowhere"
    out = subprocess.run([sys.executable, "-m", "award.cli", "blobs", "verify"], capture_output=True, text=True,
                         env={**_bare_env(), "AWARD_DATA_DIR": str(data)}, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "找不到存档文件夹" in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []
    (data / "blobs").mkdir(parents=True)  # an empty store is fine: nothing to check
    out = subprocess.run([sys.executable, "-m", "award.cli", "blobs", "verify", "--json"], capture_output=True,
                         text=True, env={**_bare_env(), "AWARD_DATA_DIR": str(data)}, cwd=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)["checked"] == 0, out.stderr


def test_status_finds_the_make_run_demo(tmp_path: Path) -> None:
    demo = tmp_path / "var" / "demo"
    demo.mkdir(parents=True)
    (demo / "season.yaml").write_text(DEFAULT_SEASON_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert award("db", "upgrade", env={"AWARD_DATA_DIR": str(demo)}).returncode == 0
    out = subprocess.run([sys.executable, "-m", "award.cli", "status", "--json"], capture_output=True, text=True,
                         env=_bare_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]  # nothing made beside the demo


def test_forms_templates_parse_back(tmp_path: Path) -> None:
    out = award("forms", "templates", str(tmp_path / "forms"), "--json")
    assert out.returncode == 0, out.stderr
    forms = json.loads(out.stdout)["forms"]
    assert [f["form_id"] for f in forms] == ["form1", "form2", "form3", "form4", "form5"]
    for form in forms:
        parsed = json.loads(award("parse", form["file"], "--json").stdout)
        assert parsed["form_id"] == form["form_id"]


def test_states_mermaid() -> None:
    out = award("states", "--mermaid")
    assert out.returncode == 0 and out.stdout.startswith("stateDiagram-v2")
