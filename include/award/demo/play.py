"""``award demo advance`` and ``award demo play``: the demo season under ``make run``, to the national export.

``advance`` moves the demo clock (``award.clock``) to the season's next milestone (``award.demo.milestones``) or to
a given stage or date, then triggers the DAGs that react, over Airflow's REST API.

``play`` walks the whole season in numbered steps (texts: ``play.yaml``): it advances the clock, lets the
counterparts answer (``award.demo.counterparts``), triggers the DAGs and waits for their runs. At each human decision
(a task in ``awaiting_input``) it tells the newcomer what to answer on the Airflow UI's Required Actions page and
waits, or, with ``auto``, answers itself through the same API the page calls. A failed run prints its failed tasks
and the end of their logs, is retried once (its failed tasks cleared), and then stops the play with an error.
Every step is safe to repeat, so ``play`` started again after a stop walks through what is done and goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from award.clock import now, read_demo_clock, write_demo_clock
from award.demo.airflow_api import FINISHED, AirflowApi
from award.demo.counterparts import agency_scores, department_replies, publicity_objection
from award.demo.milestones import PastMilestoneError, reacting_dags, resolve
from award.seasonfile import yaml_load
from award.store import session_scope
from award.store.models import PublicityWindow

TEXTS_FILE = Path(__file__).resolve().parent / "play.yaml"
# The runs play needs at a stage, where fewer than ``advance`` triggers (nothing new arrives in the demo after the
# provincial deadline; the department replies were taken in the step before the opinions deadline)
PLAY_RUNS: dict[str, tuple[str, ...]] = {
    "intake_deadline": ("intake",),
    "opinions_deadline": ("opinions", "outbox"),
}
MAX_ASKS = 3  # the same question answered this often and asked again: the play stops
DAG_IDS = ("intake", "completeness", "outbox", "opinions", "publicity", "publicity_objections", "recommendation")


class PlayError(RuntimeError):
    """The play cannot go on (a run failed twice, or nothing happened in time)."""


def texts() -> dict[str, Any]:
    return dict(yaml_load(TEXTS_FILE.read_bytes()))


def advance(rt: Any, clock_file: Path, to: str | None, *, api: AirflowApi | None = None,
            run: bool = True) -> dict[str, Any]:
    """Move the demo clock (never backwards) and, with ``run`` and an API, trigger the DAGs that react."""

    current = read_demo_clock(clock_file) or now()
    with session_scope(rt.db_url) as session:
        stage, at = resolve(session, rt.season, current, to)
    write_demo_clock(clock_file, at)
    runs: list[list[str]] = []
    if run and api is not None:
        runs = [[dag_id, api.trigger(dag_id)] for dag_id in reacting_dags(stage)]
    return {"stage": stage, "from": current.isoformat(), "at": at.isoformat(), "runs": runs}


@dataclass
class Player:
    """One play of the demo season."""

    rt: Any
    api: AirflowApi
    clock_file: Path
    maildir: Path
    auto: bool = False
    timeout: float = 900.0
    poll: float = 1.0
    answer_after: float = 5.0  # seconds a question waits before --auto answers it (as a person would)
    out: Callable[[str], None] = print
    _texts: dict[str, Any] = field(default_factory=texts)
    _asked: set[str] = field(default_factory=set)
    _seen: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ output
    def say(self, key: str, **values: Any) -> None:
        self.out(self._texts["messages"][key].format(**values))

    # ------------------------------------------------------------------ Airflow
    def wait_for_dags(self) -> None:
        """Wait until the dag-processor has parsed every DAG the play uses."""
        deadline = time.monotonic() + self.timeout
        missing = list(DAG_IDS)
        while missing:
            for dag_id in list(missing):
                try:
                    self.api.call("GET", f"/dags/{dag_id}")
                    missing.remove(dag_id)
                except Exception:  # noqa: BLE001, S112 - not parsed yet: look again
                    continue
            if missing and time.monotonic() > deadline:
                raise PlayError(f"DAGs not available after {self.timeout:.0f} s: {', '.join(missing)}")
            if missing:
                time.sleep(self.poll)

    def answer_questions(self) -> None:
        """Answer (``auto``) or point out each human-in-the-loop question waiting in any run."""
        for q in self.api.waiting_questions():
            ti = q["task_instance"]
            # a question asked again (an invalid answer) is a new question: it has a new creation time
            key = f"{ti['id']}:{ti.get('try_number')}:{q.get('created_at')}"
            policy = self._texts["answers"].get(ti["dag_id"])
            if policy is None or key in self._asked:
                continue
            # answer a question only once it has settled: an answer within a second of the task parking itself
            # raced with the task's own hand-over to the triggerer (the resumed task was then failed by the server)
            first = self._seen.setdefault(key, time.monotonic())
            if time.monotonic() - first < self.answer_after:
                continue
            if sum(k.startswith(f"{ti['id']}:") for k in self._asked) >= MAX_ASKS:
                raise PlayError(f"{ti['dag_id']}.{ti['task_id']}: the answer was refused {MAX_ASKS} times")
            option = policy["option"] if policy["option"] in q.get("options", []) else q["options"][0]
            # every field of the form, the ones the catalogue does not fill with their current value
            given = policy.get("params") or {}
            params = {k: given.get(k, (spec or {}).get("value") if isinstance(spec, dict) else spec)
                      for k, spec in (q.get("params") or {}).items()}
            if self.auto:
                if self.api.answer(q, [option], params):
                    self.say("answered", subject=q.get("subject", ""), option=option)
            else:
                shown = "；".join(f"{k}={v}" for k, v in params.items() if v)
                self.say("ask", subject=q.get("subject", ""), option=option, params=shown)
            self._asked.add(key)

    def report_failure(self, dag_id: str, run_id: str) -> list[str]:
        """Print the failed tasks of a run and the end of their logs; returns their ids."""
        failed = [ti for ti in self.api.task_instances(dag_id, run_id)
                  if ti.get("state") in ("failed", "upstream_failed")]
        self.say("failed", dag_id=dag_id, run_id=run_id, tasks=", ".join(
            f"{t['task_id']}[{t['map_index']}]" if t.get("map_index", -1) >= 0 else t["task_id"] for t in failed))
        for ti in failed:
            if ti.get("state") == "failed":
                self.say("log_tail", task_id=ti["task_id"], text=self.api.log_tail(
                    dag_id, run_id, ti["task_id"], int(ti.get("try_number") or 1), int(ti.get("map_index", -1))))
        return [t["task_id"] for t in failed]

    def wait_run(self, dag_id: str, run_id: str, *, until: Callable[[], bool] | None = None,
                 retried: bool = False) -> str:
        """Wait for a run to finish (or for ``until``), answering questions; one retry of a failed run."""
        self.say("waiting", dag_id=dag_id)
        began = time.monotonic()
        deadline = began + self.timeout
        while True:
            self.answer_questions()
            state = self.api.run_state(dag_id, run_id)
            if state == "failed":
                tasks = self.report_failure(dag_id, run_id)
                if retried:
                    raise PlayError(f"{dag_id} run {run_id} failed again: {', '.join(tasks)}")
                self.say("retry")
                self.api.clear_failed(dag_id, run_id)
                return self.wait_run(dag_id, run_id, until=until, retried=True)
            if state in FINISHED:
                self.say("finished", dag_id=dag_id, state=state, seconds=round(time.monotonic() - began))
                return state
            if until is not None and until():
                return state
            if time.monotonic() > deadline:
                states = {t["task_id"]: t.get("state") for t in self.api.task_instances(dag_id, run_id)}
                raise PlayError(f"{dag_id} run {run_id} still {state} after {self.timeout:.0f} s: {states}")
            time.sleep(self.poll)

    def run(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run and wait for it."""
        run_id = self.api.trigger(dag_id, conf)
        self.say("triggered", dag_id=dag_id, run_id=run_id)
        self.wait_run(dag_id, run_id)
        return run_id

    def advance(self, stage: str) -> None:
        """Move the clock to ``stage``; the reacting DAGs are run by the step, one after the other."""
        try:
            moved = advance(self.rt, self.clock_file, stage, run=False)
        except PastMilestoneError:  # a play started again after a stop: the clock is there already
            self.say("kept", at=now().strftime("%Y-%m-%d %H:%M"), stage=stage)
            return
        at = datetime.fromisoformat(moved["at"])
        self.say("advanced", at=at.strftime("%Y-%m-%d %H:%M"), stage=stage)

    def advance_and_run(self, stage: str) -> None:
        """Move the clock, then run the DAGs the play needs at that stage (``PLAY_RUNS``), one after the other."""
        self.advance(stage)
        for dag_id in PLAY_RUNS.get(stage, reacting_dags(stage)):
            self.run(dag_id)

    # ------------------------------------------------------------------ the store
    def _window(self, purpose: str) -> bool:
        with session_scope(self.rt.db_url) as session:
            return session.scalar(select(PublicityWindow.id).where(
                PublicityWindow.season == self.rt.season.season_id, PublicityWindow.purpose == purpose)) is not None

    def _replied(self, lines: list[str]) -> None:
        for line in lines:
            self.say("replied", text=line)

    # ------------------------------------------------------------------ the steps
    def step_intake(self) -> None:
        for dag_id in ("intake", "completeness", "outbox"):
            self.run(dag_id)

    def step_replies(self) -> None:
        with session_scope(self.rt.db_url) as session:
            self._replied(department_replies(session, self.rt, self.maildir))
        self.run("intake")

    def step_publicity(self) -> None:
        run_id = self.api.trigger("publicity", {"purpose": "provincial", "submission_nos": None, "opened_at": None})
        self.say("triggered", dag_id="publicity", run_id=run_id)
        self._publicity_run = run_id
        self.wait_run("publicity", run_id, until=lambda: self._window("provincial"))
        with session_scope(self.rt.db_url) as session:
            no = publicity_objection(session, self.rt, self.maildir)
        if no:
            self._replied([no])
        for dag_id in ("publicity_objections", "outbox"):
            self.run(dag_id)

    def step_publicity_end(self) -> None:
        self.advance("publicity_end")
        self.wait_run("publicity", self._publicity_run)  # it takes the last objections itself
        self.run("outbox")

    def step_scores(self) -> None:
        self.advance("scores")
        self.run("recommendation")  # writes the score sheet for the agency
        target = agency_scores(self.rt)
        if target:
            self._replied([target])
        run_id = self.api.trigger("recommendation")
        self.say("triggered", dag_id="recommendation", run_id=run_id)
        self._recommendation_run = run_id
        self.wait_run("recommendation", run_id, until=lambda: self._window("candidate"))
        if not self._window("candidate"):
            raise PlayError("no candidate publicity after the scores were imported: see the recommendation run")

    def step_candidate_publicity_end(self) -> None:
        self.advance("candidate_publicity_end")
        self.wait_run("recommendation", self._recommendation_run)
        self.run("outbox")

    def play(self) -> None:
        """The whole season, step by step."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("intake", self.step_intake),
            ("intake_deadline", lambda: self.advance_and_run("intake_deadline")),
            ("correction_end", lambda: self.advance_and_run("correction_end")),
            ("replies", self.step_replies),
            ("opinions_deadline", lambda: self.advance_and_run("opinions_deadline")),
            ("publicity", self.step_publicity),
            ("publicity_end", self.step_publicity_end),
            ("scores", self.step_scores),
            ("candidate_publicity_end", self.step_candidate_publicity_end),
        ]
        total = len(steps)
        self.out(self._texts["title"].format(total=total))
        began = time.monotonic()
        self.wait_for_dags()
        for n, (sid, step) in enumerate(steps, start=1):
            text = self._texts["steps"][sid]
            self.say("step", n=n, total=total, title=text["title"], elapsed=round(time.monotonic() - began))
            self.say("what", text=text["what"])
            step()
            self.say("look", text=text["look"])
        self.say("done", elapsed=round(time.monotonic() - began))
