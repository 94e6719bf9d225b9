"""Where the ``award`` command finds its data when no setting says: the ``make run`` demo, if there is one."""

from __future__ import annotations

import os
from pathlib import Path

SETTINGS = ("AWARD_DATA_DIR", "AWARD_DB_URL", "AWARD_SEASON_FILE")
DEMO_FOLDER = Path("var") / "demo"


def _repo_root() -> Path | None:
    """The checkout this package runs from (an editable install), if it is one."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "Makefile").is_file() and (root / "dags").is_dir() else None


def demo_root(cwd: Path | None = None) -> Path | None:
    """The ``make run`` demo folder (``var/demo`` with its season file), looked for in the working folder, then
    in the checkout the package runs from."""
    candidates = [(cwd or Path.cwd()) / DEMO_FOLDER]
    repo = _repo_root()
    if repo is not None:
        candidates.append(repo / DEMO_FOLDER)
    for folder in candidates:
        if (folder / "season.yaml").is_file():
            return folder.resolve()
    return None


def discover(environ: os._Environ[str] | dict[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """Point the settings at the ``make run`` demo when none of them is set, as scripts/run.sh sets them.

    Returns the demo folder used, or None (explicit settings, or no demo): then the defaults apply unchanged.
    """
    env = os.environ if environ is None else environ
    if any(env.get(name) for name in SETTINGS):
        return None
    root = demo_root(cwd)
    if root is None:
        return None
    env["AWARD_DATA_DIR"] = str(root)
    env["AWARD_SEASON_FILE"] = str(root / "season.yaml")
    env.setdefault("AWARD_MAILDIR", str(root / "maildir"))
    env.setdefault("AWARD_DEMO_CLOCK", str(root / "clock.json"))  # the demo's clock (award demo advance)
    return root
