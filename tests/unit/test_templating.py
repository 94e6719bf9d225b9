"""The template folders: the core's and each package's own, with no template name in two of them."""

from __future__ import annotations

from collections import Counter

import pytest

from award.templating import TEMPLATE_DIR, template_dirs, template_path


def test_core_folder_comes_first_and_stage_folders_are_found() -> None:
    dirs = template_dirs()
    assert dirs[0] == TEMPLATE_DIR
    assert all(d.name == "templates" for d in dirs)


def test_no_template_name_is_in_two_folders() -> None:
    """A name found in two folders would silently take the first: each name has one home."""
    names = Counter(p.relative_to(d).as_posix() for d in template_dirs() for p in d.rglob("*") if p.is_file())
    assert not [n for n, count in names.items() if count > 1]


def test_unknown_template_names_the_folders() -> None:
    with pytest.raises(FileNotFoundError, match="no template 'nowhere/x.yaml'"):
        template_path("nowhere/x.yaml")
