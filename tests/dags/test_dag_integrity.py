"""Every DAG file imports cleanly and follows the house rules (Astronomer-style DAG integrity test)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    """The DAGs as production parses them (the suite sets AWARD_TASK_RETRIES=0 for dag.test(); not here)."""
    from airflow.dag_processing.dagbag import DagBag

    saved = os.environ.pop("AWARD_TASK_RETRIES", None)
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        if saved is not None:
            os.environ["AWARD_TASK_RETRIES"] = saved


def test_every_dag_file_imports(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def _dag_files() -> list[Path]:
    """The files of dags/ that declare a DAG (the others, like pipeline_common.py, are helpers they import)."""
    return [p for p in sorted(DAGS.glob("*.py")) if re.search(r"^@dag\(|\bDAG\(", p.read_text(encoding="utf-8"), re.M)]


def test_expected_dags_present(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Derived from the folder: every file declaring a DAG yields one named after the file (a stage's DAG id, its
    file and its package share one name), so a new stage is checked by every test here without editing a list."""
    files = _dag_files()
    assert {"intake", "completeness", "opinions", "publicity", "recommendation", "outbox"} <= {p.stem for p in files}
    by_file: dict[str, set[str]] = {}
    for dag_id, dag in dagbag.dags.items():
        by_file.setdefault(Path(dag.fileloc).name, set()).add(dag_id)
    for path in files:
        assert path.stem in by_file.get(path.name, set()), f"{path.name} declares no DAG named {path.stem!r}"
    assert set(by_file) <= {p.name for p in files}, "a DAG from a file that declares none"


def _timezone_name(dag) -> str:  # type: ignore[no-untyped-def]
    timetable = dag.timetable
    tz = getattr(timetable, "_timezone", None) or getattr(timetable, "timezone", None)
    if tz is None:  # asset-or-time: the inner timetable's zone
        inner = getattr(timetable, "timetable", None)
        tz = getattr(inner, "_timezone", None) or getattr(inner, "timezone", None)
    if tz is None:  # asset-triggered or manual: the DAG's zone (from its start date; DagBag keeps start_date in UTC)
        tz = getattr(dag, "timezone", None) or (dag.start_date.tzinfo if dag.start_date else None)
    return str(getattr(tz, "name", tz))


def test_house_rules(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from award.config import load_season

    ops = str(load_season().recommending_unit.ops_email)
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "cqa" in dag.tags, f"{dag_id}: tags"
        assert dag.description, f"{dag_id}: a description for ops"
        assert _timezone_name(dag) == "Asia/Shanghai", f"{dag_id}: schedule zone is {_timezone_name(dag)}"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id}: owner"
            assert task.retries >= 1 or getattr(task, "is_hitl", False) or "hitl" in type(task).__module__, (
                f"{dag_id}.{task.task_id}: retries"
            )
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            notifiers = [c for c in callbacks if isinstance(c, SmtpNotifier)]
            assert notifiers, f"{dag_id}.{task.task_id}: no SmtpNotifier failure notice"
            assert ops in json.dumps(notifiers[0].to), f"{dag_id}.{task.task_id}: notice not sent to ops"


# What a DAG file may load at parse time from the domain package: the package with its log masking, the parse-time
# season facts, the export schedule of the deadline alert (its stage package's lazy __init__ included), the clock and the working-day calendar (the timetable),
# and the connection ids (award.connections, stdlib only: dags/pipeline_common.py imports them).
# Every other award module is forbidden, so a new domain module is guarded without editing this list.
PARSE_TIME_DOMAIN = {"award", "award.connections", "award.logsafe", "award.seasonfile", "award.recommendation",
                     "award.entrypoints", "award.recommendation.alerts", "award.clock", "award.calendar"}
# Heavy libraries no DAG file may import at parse time (the domain modules above import none of them).
HEAVY_LIBRARIES = ["boto3", "botocore", "pandas", "sqlalchemy.orm", "openpyxl", "docx", "reportlab", "lxml", "yagmail",
                   "pydantic", "email_validator"]

PARSE_EVERY_FILE = """
import gc, json, sys
sys.path[:0] = [{dags!r}, {plugins!r}]
from airflow.dag_processing.dagbag import DagBag
gc.freeze()
first = {{}}
errors = {{}}
for path in {files!r}:
    before = set(sys.modules)
    bag = DagBag(dag_folder=path)
    errors.update({{str(k): str(v)[-2000:] for k, v in bag.import_errors.items()}})
    for name in set(sys.modules) - before:
        first.setdefault(name, path.rsplit("/", 1)[-1])
print("RESULT " + json.dumps({{"errors": errors, "first": first}}))
"""


def _domain_modules() -> set[str]:
    """Every module of the domain package ``award`` (by its files, without importing them)."""
    root = Path(__file__).resolve().parents[2] / "include"
    names = set()
    for path in (root / "award").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_no_heavy_imports_at_parse_time() -> None:
    """DAG files parse in milliseconds: parsed one after another in one fresh interpreter, as the dag-processor
    parses them (Airflow imported, the collector frozen, dags/ and plugins/ on the path), they load no heavy library
    and no domain module beyond PARSE_TIME_DOMAIN. A structural check, not a timing (`make bench` measures times).
    """
    files = [str(p) for p in sorted(DAGS.glob("*.py"))]  # every file the dag-processor may parse, helpers included
    code = PARSE_EVERY_FILE.format(dags=str(DAGS), plugins=str(DAGS.parent / "plugins"), files=files)
    env = {k: v for k, v in os.environ.items() if k != "AWARD_TASK_RETRIES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1][len("RESULT "):])
    assert result["errors"] == {}
    first: dict[str, str] = result["first"]
    forbidden = (_domain_modules() - PARSE_TIME_DOMAIN) | set(HEAVY_LIBRARIES)
    loaded = {name: file for name, file in first.items()
              if name in forbidden or any(name.startswith(f"{lib}.") for lib in HEAVY_LIBRARIES)}
    assert loaded == {}, f"loaded at parse time (module: first DAG file that loaded it): {loaded}"
    assert "award.seasonfile" in first, "the DAG files read the season facts through award.seasonfile"


def _ui_requires(schema: dict) -> bool:  # type: ignore[type-arg]
    """The Airflow UI's own rule (FlexibleForm): a param is required when its schema type excludes null."""
    kind = schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_trigger_forms_can_be_submitted_with_their_defaults(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        dag.params.validate()  # every default passes its own schema
        for name in dag.params:
            param = dag.params.get_param(name)
            if "可选" in str(param.schema.get("title", "")):
                assert not _ui_requires(param.schema), f"{dag_id}: {name} is optional but the form requires it"


def test_schedules_read_as_beijing_times(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 §6: every time schedule (alone or beside an asset) says it is Beijing time, in Chinese."""
    timed = 0
    for dag_id, dag in dagbag.dags.items():
        timetable = getattr(dag.timetable, "timetable", dag.timetable)  # asset-or-time: the time part
        if not getattr(timetable, "periodic", False):
            continue
        timed += 1
        for text in (timetable.summary, timetable.description):
            assert "北京时间" in text and not re.search(r"[A-Za-z]{3,}", text), f"{dag_id}: {text!r}"
    assert timed >= 5


# ASCII words a form may show: the names of Airflow's own buttons and formats the clerk sees in the UI
ASCII_WORDS_ALLOWED = {"ISO", "Airflow", "Trigger", "Clear", "DAG"}


def test_forms_show_no_english(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 §6: trigger and HITL forms in Chinese: an enum shows Chinese labels (values_display) for its
    values, and no title, description or option is an English text."""

    def english(text: str) -> set[str]:
        return set(re.findall(r"[A-Za-z]{3,}", text)) - ASCII_WORDS_ALLOWED

    checked = 0
    for dag in dagbag.dags.values():
        forms = [("trigger", dag.params)] + [(t.task_id, t.params) for t in dag.tasks if t.params]
        for where, params in forms:
            for name in params:
                param = params.get_param(name)
                schema = param.schema
                texts = [str(schema.get("title") or ""), str(param.description or "")]
                if "enum" in schema:
                    shown = schema.get("values_display") or {}
                    assert set(shown) >= set(schema["enum"]), f"{dag.dag_id} {where}: {name} shows its raw values"
                    texts.extend(str(v) for v in shown.values())
                for text in texts:
                    assert not english(text), f"{dag.dag_id} {where}: {name}: English in {text!r}"
                checked += 1
        for task in dag.tasks:
            options = (getattr(task, "partial_kwargs", None) or {}).get("options") or getattr(task, "options", None)
            for option in options or ():
                assert not english(str(option)), f"{dag.dag_id}.{task.task_id}: option {option!r}"
    assert checked >= 8


def test_required_answers_are_required_in_the_hitl_form(dagbag) -> None:  # type: ignore[no-untyped-def]
    """A HITL field described as 必填 is declared required (ReaskingHITLOperator's required_params)."""
    checked = 0
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            kwargs = getattr(task, "partial_kwargs", None) or {}  # a mapped operator keeps them here
            required = kwargs.get("required_params") or getattr(task, "required_params", None)
            params = task.params
            if not params or "HITL" not in str(getattr(task, "operator_class", type(task))):
                continue
            for name in params:
                param = params.get_param(name)
                if "必填" in str(param.description or ""):
                    assert name in (required or ()), f"{dag.dag_id}.{task.task_id}: {name} is 必填 but optional"
                    checked += 1
    assert checked >= 3
