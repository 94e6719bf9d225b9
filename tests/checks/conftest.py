"""Fixtures for the completeness-check tests."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def clean_set(tmp_path_factory) -> dict:  # type: ignore[type-arg]
    """One clean generated application per category: {category: (root, manifest entry)}."""
    from award.config import load_season
    from award.demo.generator import generate

    root = tmp_path_factory.mktemp("clean")
    generate(root, 30, 11, season=load_season(), defect_share=0.0, channels=("mail",))  # each with its own opinion
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    out: dict[str, tuple[Path, dict]] = {}
    for entry in sorted(manifest["applications"], key=lambda e: e["messy"]):  # plainly laid out ones first
        out.setdefault(entry["category"], (root, entry))
    assert set(out) == {"organization", "education", "sme", "team", "individual"}
    return out


@pytest.fixture()
def fake_now(monkeypatch):  # type: ignore[no-untyped-def]
    """Set the domain clock: fake_now("2023-05-10T10:00")."""

    def set_now(value: str | date) -> None:
        monkeypatch.setenv("AWARD_FAKE_NOW", value if isinstance(value, str) else f"{value.isoformat()}T09:00:00")

    set_now("2023-05-10T10:00:00")
    return set_now
