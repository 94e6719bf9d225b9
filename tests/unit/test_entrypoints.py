"""Stage packages: each names its entry points in ``__all__`` and resolves them lazily (award.entrypoints).

Derived from the tree, so a new stage package is checked without editing this test: every package of
``include/award`` whose ``__init__`` calls ``lazy`` is a stage. For each, ``__all__``, the lazy map and the
``TYPE_CHECKING`` imports name the same entry points from the same modules, and every one resolves. DAG files
import a stage only through its entry points (``from award.<stage> import name``, name in ``__all__``).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "award"
DAGS = ROOT / "dags"


def _stages() -> dict[str, ast.Module]:
    found = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "lazy" for n in ast.walk(tree)):
            found[f"award.{init.parent.name}"] = tree
    return found


STAGES = _stages()


def _declared(tree: ast.Module) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(__all__, lazy map name -> module, TYPE_CHECKING imports name -> module) of a stage's __init__."""
    names: list[str] = []
    lazy_map: dict[str, str] = {}
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "__all__":
                names = list(ast.literal_eval(node.value))
            elif node.targets[0].id == "__getattr__" and isinstance(node.value, ast.Call):
                lazy_map = ast.literal_eval(node.value.args[1])
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.module:
                    typed.update({alias.asname or alias.name: imp.module for alias in imp.names})
    return names, lazy_map, typed


def test_the_stages_are_found() -> None:
    assert {"award.intake", "award.completeness", "award.opinions", "award.publicity",
            "award.recommendation"} <= set(STAGES)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_entry_points_are_declared_once_and_resolve(stage: str) -> None:
    names, lazy_map, typed = _declared(STAGES[stage])
    assert names, f"{stage}: empty __all__"
    assert set(names) == set(lazy_map) == set(typed), f"{stage}: __all__, the lazy map and TYPE_CHECKING differ"
    for name in names:
        assert stage + lazy_map[name] == typed[name], f"{stage}.{name}: lazy map and TYPE_CHECKING disagree"
    module = importlib.import_module(stage)
    for name in names:
        assert getattr(module, name) is getattr(importlib.import_module(typed[name]), name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_entry'"):
        getattr(module, "no_such_entry")  # noqa: B009 - the attribute is looked up on purpose


def test_dag_files_call_stages_through_their_entry_points() -> None:
    wrong = []
    for path in sorted(DAGS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("award.")):
                continue
            stage = next((s for s in STAGES if node.module == s or node.module.startswith(s + ".")), None)
            if stage is None:
                continue
            names, _, _ = _declared(STAGES[stage])
            for alias in node.names:
                if node.module != stage or alias.name not in names:
                    wrong.append(f"{path.name}:{node.lineno} from {node.module} import {alias.name}")
    # the deadline alert's schedule is read at parse time from its cheap module (not through the lazy package)
    wrong = [w for w in wrong if "award.recommendation.alerts import" not in w]
    assert not wrong, "import stage entry points from the package (names in __all__): " + "; ".join(wrong)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_entry_points_have_the_one_typed_shape(stage: str) -> None:
    """``fn(session: Session, rt: Runtime, ...)`` for one-transaction steps, ``fn(rt: Runtime, ...)`` for steps with
    one transaction per item: a step that takes the runtime or a session takes them first, typed."""
    import inspect

    names, _, typed = _declared(STAGES[stage])
    wrong = []
    for name in names:
        fn = getattr(importlib.import_module(typed[name]), name)
        if not inspect.isfunction(fn):
            continue
        params = list(inspect.signature(fn).parameters.values())
        annotations = {p.name: str(p.annotation) for p in params}
        order = [p.name for p in params]
        if "rt" in annotations:
            if annotations["rt"] != "Runtime":
                wrong.append(f"{name}: rt is {annotations['rt']!r}, not Runtime")
            if order[: order.index("rt") + 1] not in (["rt"], ["session", "rt"]):
                wrong.append(f"{name}: parameters start {order[:2]}, not (session, rt) or (rt)")
        if "session" in annotations and annotations["session"] != "Session":
            wrong.append(f"{name}: session is {annotations['session']!r}, not Session")
    assert not wrong, f"{stage}: " + "; ".join(wrong)
