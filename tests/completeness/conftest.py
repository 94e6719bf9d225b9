"""Fixtures for the completeness-check tests."""

from __future__ import annotations

import json
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
