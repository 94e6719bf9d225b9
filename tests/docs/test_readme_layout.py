"""The README's layout section matches the tree: every name it lists exists, and every domain package, top-level
domain module and DAG file is listed (issue 17). A new package without a line in the README fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _layout() -> dict[str, set[str]]:
    """Folder of the layout block ("" for the top level) -> the names listed under it, relative to that folder."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"^## Layout\n.*?```\n(.*?)\n```", text, re.S | re.M)
    assert block, "README.md has no ## Layout section with a code block"
    listed: dict[str, set[str]] = {}
    folder = ""
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split()
        if not line.startswith(" "):  # top-level names; the first folder among them heads the indented lines
            listed.setdefault("", set()).update(names)
            folder = names[0]
        else:
            listed.setdefault(folder, set()).update(names)
    return listed


def test_every_listed_name_exists() -> None:
    missing = []
    for folder, names in _layout().items():
        for name in names:
            if not (ROOT / folder / name).exists():
                missing.append(f"{folder} {name}")
    assert not missing, f"README layout names what is not in the tree: {missing}"


def test_every_package_module_and_dag_is_listed() -> None:
    listed = _layout()
    award = {n.rstrip("/") for n in listed.get("include/award/", set())}
    package = ROOT / "include" / "award"
    expected = {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    expected |= {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    assert not expected - award, f"README layout misses under include/award/: {sorted(expected - award)}"
    dags = {n for n in listed.get("dags/", set())}
    expected_dags = {p.name for p in (ROOT / "dags").glob("*.py")}
    assert not expected_dags - dags, f"README layout misses under dags/: {sorted(expected_dags - dags)}"
