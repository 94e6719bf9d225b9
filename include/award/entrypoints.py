"""Stage packages name their entry points in ``__all__`` and load each on first use (PEP 562).

``import award.recommendation.alerts`` at DAG-parse time must not import the package's heavy modules, so a stage's
``__init__`` imports nothing at run time: it maps each entry point to its module, and ``lazy`` resolves the name
when it is first read. For type checkers and readers, the same names are imported under ``TYPE_CHECKING``;
tests/unit/test_entrypoints.py checks that every name of ``__all__`` resolves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: entry point name -> its submodule (``".processing"``)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    return __getattr__
