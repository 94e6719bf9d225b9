"""The distributed run: the same DAGs run to completion on CeleryExecutor, PostgreSQL and Redis, without Docker.

Evidence that every task ran on the Celery worker comes from the metadata database, not from logs:
- ``task_instance.hostname`` is the worker's identity (only the worker process is configured to report it),
- ``task_instance.queue`` is the run's private Celery queue, which only that worker consumes,
- ``task_instance.external_executor_id`` is a Celery task id whose result the worker stored in ``celery_taskmeta``.

Every run is started by the test over the REST API, one after the other, and nothing else runs: the deployment's
scheduler creates no scheduled or asset-triggered runs, and the clock of the domain is frozen (AWARD_FAKE_NOW), so
the outcome does not depend on the wall clock or on the machine's load (the waits are bounded, not timed races).

The pipeline part: a small generated season (8 applications of the example season, two defects) is delivered to
the deployment's Maildir and shared folder; ``intake`` runs and must record the applications asset event that the
``completeness`` DAG is scheduled on; ``completeness`` runs next. ``opinions`` is triggered next: it solicits the departments' opinions on the
complete applications (letters queued, applications -> dept_review; no department objected, so no human decision
is mapped). Then no-objection replies are recorded in the store for all but one of them (-> dept_cleared) and
``publicity`` is triggered with a back-dated window that has already ended: it opens and closes the window on the
worker (no objections, so no human decision) and the cleared applications pass. Those are then scored and
confirmed as candidates in the store (scores import, ranking and the candidate publicity are tested in
tests/recommendation and tests/publicity), and ``recommendation`` is triggered: the leadership group's approval
waits as a human-in-the-loop task until the test answers it over the api-server's REST API, as the Required Actions
page does (user 办公室, a token from /auth/token); the worker then compiles, verifies and exports the package.
Finally ``outbox`` is triggered and sends everything queued to an SMTP catcher. Each stage's effects are checked in the domain store on PostgreSQL
as soon as its run has finished: the applications in the states the generator's defects call for, their check
runs (recorded by a completeness run of this deployment), the opinion requests, the closed publicity window, and
the approved, compiled and exported package, and every queued e-mail (acknowledgements, corrections, letters to
departments, publicity notices, results, the national submission) as sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the fixture's class lives in this folder's conftest.py
    from conftest import CeleryCluster

REPO = Path(__file__).resolve().parents[2]
POOLS_FILE = REPO / "deploy" / "pools.json"

# One generous bound for the cluster's start and the whole run (the suite's 600 s is per ordinary test).
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]

PROBE_DAG = "cqa_deploy_probe"
PROBE_ITEMS, PROBE_BATCH = 10, 4

OUTBOX_MAILS = 3

# The pipeline's per-batch tasks: a planner's batches are mapped, one task instance per batch (map_index >= 0).
MAPPED_TASKS = {"completeness": "check_batch", "outbox": "send_batch"}
# Human-in-the-loop tasks mapped over the questions due; this season raises none, so each is skipped (map_index -1).
UNASKED_HITL = {"opinions": {"decision.ask", "decision.apply_decision"}, "publicity": {"place_unmatched", "decide"}}
# Branches not taken: the candidates are confirmed already, and the content is new (so the leadership is asked).
BRANCHES_NOT_TAKEN = {"recommendation": {"candidate_publicity", "resume", "nothing_to_send"}}
# The leadership group's answer, given over the REST API by the Airflow user 办公室 (conftest.API_USER).
APPROVER, HITL_USER = "张局长", "办公室"
APPROVAL = {"chosen_options": ["同意推荐"],
            "params_input": {"approver": APPROVER, "opinion": "同意推荐以上单位和个人", "doc_number": "45",
                             "audit_doc_number": ""}}

# The provincial publicity window: opened back-dated (Wednesday 2023-05-10 09:00, 5 working days -> ends
# 2023-05-16 24:00), so both the domain (AWARD_FAKE_NOW 2023-05-20) and the deferrable sensor (real time) see it over.
PUBLICITY_OPENED_AT = "2023-05-10T09:00:00+08:00"
# Complete applications left in dept_review (no opinion recorded): the publicity must leave them alone.
LEFT_IN_REVIEW = 1

# The generated season: 8 applications of the shipped season (Gansu 2023), seed chosen for defects of each outcome
# besides "complete": missing_material and pdf_mismatch (-> incomplete, correction mail) and defence_industry
# (-> ineligible at intake, wrong-channel mail); mailed (Maildir ``office``) and city batches (``incoming/``).
SEASON_APPS, SEASON_SEED, SEASON_DEFECT_SHARE = 8, 26, 0.25
# defect -> the state after intake and completeness (see tests/completeness/test_end_to_end.py for every defect)
EXPECTED_STATE = {
    None: "complete",
    "two_channels": "complete",
    "missing_material": "incomplete",
    "short_publicity": "incomplete",
    "pdf_mismatch": "incomplete",
    "bad_check_char": "incomplete",
    "defence_industry": "ineligible",
    "ineligible_school": "ineligible",
}
# state -> the e-mails (outbox templates) its applicant gets from intake, completeness and publicity
EXPECTED_MAILS = {
    "complete": {"ack", "complete"},
    "dept_review": {"ack", "complete"},
    "publicity_passed": {"ack", "complete", "publicity_started"},
    "exported": {"ack", "complete", "publicity_started", "result_recommended"},
    "incomplete": {"ack", "correction"},
    "ineligible": {"wrong_channel"},
}


def _manifest(cluster: CeleryCluster) -> dict[str, Any]:
    return json.loads((cluster.award_dir / "generated" / "manifest.json").read_text(encoding="utf-8"))


def _expected_states(cluster: CeleryCluster) -> dict[str, str]:
    """Applicant key -> expected state, from the generator's manifest (a second channel's entry replaces the first)."""
    expected = {}
    for entry in _manifest(cluster)["applications"]:
        defect = entry["defects"][0] if entry["defects"] else None
        assert defect in EXPECTED_STATE, f"seed {SEASON_SEED} yields defect {defect!r}: pick another seed"
        expected[entry["key"]] = EXPECTED_STATE[defect]
    return expected


def _prepare_intake(cluster: CeleryCluster) -> None:
    """Generate a small season and deliver it to the deployment's Maildir and shared folder (as `make run` does)."""
    from award.config import load_season
    from award.demo.generator import generate
    from award.demo.setup import deliver

    generated = cluster.award_dir / "generated"
    result = generate(generated, SEASON_APPS, SEASON_SEED, season=load_season(), defect_share=SEASON_DEFECT_SHARE)
    states = set(_expected_states(cluster).values())
    assert states == {"complete", "incomplete", "ineligible"}, result.summary()
    deliver(generated, cluster.award_dir / "maildir", cluster.award_dir / "shared",
            when=datetime.fromisoformat(cluster.env["AWARD_FAKE_NOW"]))


def _verify_intake(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """Every delivered message and city file is archived; every generated application is registered."""
    import mailbox

    from sqlalchemy import func, select

    from award.store.db import session_scope
    from award.store.models import Application, InboundItem

    manifest = _manifest(cluster)
    mailed = sum(1 for a in manifest["applications"] if a["channel"] == "mail")
    assert len(mailbox.Maildir(cluster.award_dir / "maildir" / "office", create=False)) == 0, "messages left"
    with session_scope(cluster.domain_url) as session:
        by_channel = dict(session.execute(select(InboundItem.channel, func.count()).group_by(InboundItem.channel)).all())
        keys = {a.applicant.key: a.submission_no for a in session.scalars(select(Application))}
    assert by_channel.get("maildir") == mailed, by_channel
    city_files = sum(1 for f in (cluster.award_dir / "shared" / "incoming").rglob("*") if f.is_file())
    assert sum(by_channel.values()) == mailed + city_files, by_channel
    assert set(keys) == set(_expected_states(cluster)), keys
    assert all(no and no.startswith("GS-2023-") for no in keys.values()), keys


def _verify_completeness(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """The intake run emitted the applications asset; states as the manifest's defects say; each check recorded by
    a completeness run of this deployment."""
    events = cluster.asset_events("intake", runs["intake"])
    scheduled_on = cluster.query("SELECT asset_id FROM dag_schedule_asset_reference WHERE dag_id = 'completeness'")
    assert [e["asset_id"] for e in events] == [r["asset_id"] for r in scheduled_on], (events, scheduled_on)
    from sqlalchemy import select

    from award.store.db import session_scope
    from award.store.models import Application, CheckRun

    completeness_runs = {
        r["run_id"] for r in cluster.query("SELECT run_id FROM dag_run WHERE dag_id = 'completeness'")
    }
    assert runs["completeness"] in completeness_runs
    expected = _expected_states(cluster)
    with session_scope(cluster.domain_url) as session:
        for app in session.scalars(select(Application)):
            where = f"{app.submission_no} ({app.category}, {app.channel})"
            assert app.state == expected[app.applicant.key], where
            checks = list(session.scalars(select(CheckRun).where(CheckRun.application_id == app.id)))
            if app.state == "ineligible":  # refused at intake (defence industry): never checked
                assert checks == [], where
                continue
            assert [c.outcome for c in checks] == [app.state], where
            assert checks[0].run_id in completeness_runs, f"{where}: checked by {checks[0].run_id!r}"
    reports = sorted(p.suffix for p in (cluster.award_dir / "shared" / "reports" / "cqa-5-2023").iterdir())
    assert ".xlsx" in reports and ".html" in reports, reports


def _complete_ids(cluster: CeleryCluster) -> list[int]:
    """Ids of the applications completeness found complete (whatever later stages did with them)."""
    from sqlalchemy import select

    from award.store.db import session_scope
    from award.store.models import CheckRun

    with session_scope(cluster.domain_url) as session:
        return sorted(set(session.scalars(select(CheckRun.application_id).where(CheckRun.outcome == "complete"))))


def _verify_opinions(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """Every complete application was put to each department concerned (letters queued) and is in dept_review."""
    from sqlalchemy import select

    from award.config import load_season
    from award.store.db import session_scope
    from award.store.models import Application, OpinionRequest, OpinionRequestItem

    season = load_season()
    complete = _complete_ids(cluster)
    assert complete
    with session_scope(cluster.domain_url) as session:
        requests = list(session.scalars(select(OpinionRequest)))
        asked: dict[int, set[str]] = {}
        for req in requests:
            assert req.token and req.letter_sha256 and req.sheet_sha256 and req.status == "open", req.token
            for item in session.scalars(select(OpinionRequestItem).where(OpinionRequestItem.request_id == req.id)):
                asked.setdefault(item.application_id, set()).add(req.department)
        for app_id in complete:
            app = session.get(Application, app_id)
            assert app is not None and app.state == "dept_review", (app_id, app and app.state)
            wanted = {d.code for d in season.departments if app.category in d.categories}
            assert asked.get(app_id) == wanted, (app.submission_no, app.category, asked.get(app_id))
    assert set(asked) == set(complete), asked
    queued = cluster.query("SELECT to_addrs FROM outbox_email WHERE template = 'opinion_request'",
                           url=cluster.domain_url)
    assert len(queued) == len(requests), queued


def _clear_for_publicity(cluster: CeleryCluster) -> None:
    """Record a no-objection reply of every asked department for all but LEFT_IN_REVIEW applications."""
    from sqlalchemy import select

    from award.clock import now
    from award.opinions.clearing import record_opinion
    from award.runtime import Runtime
    from award.store.db import session_scope
    from award.store.models import Application, OpinionRequest, OpinionRequestItem

    with cluster.domain_env():  # recorded at AWARD_FAKE_NOW, on the deployment's store
        rt = Runtime.from_env()
        with session_scope(cluster.domain_url) as session:
            ids = _complete_ids(cluster)[LEFT_IN_REVIEW:]
            for app_id in ids:
                app = session.get(Application, app_id)
                assert app is not None
                for req in session.scalars(select(OpinionRequest).join(OpinionRequestItem)
                                           .where(OpinionRequestItem.application_id == app_id)
                                           .order_by(OpinionRequest.id)):
                    record_opinion(session, rt, req, app, "no_objection", None, source="reply", source_sha256=None,
                                   received_at=now())
                assert app.state == "dept_cleared", (app.submission_no, app.state)


def _verify_publicity(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """One provincial window, closed; the cleared applications passed; the one still in review was left alone."""
    from sqlalchemy import select

    from award.store.db import session_scope
    from award.store.models import Application, PublicityEntry, PublicityWindow

    complete = _complete_ids(cluster)
    with session_scope(cluster.domain_url) as session:
        windows = list(session.scalars(select(PublicityWindow)))
        assert [(w.purpose, w.status) for w in windows] == [("provincial", "closed")], windows
        window = windows[0]
        assert window.opened_at == datetime.fromisoformat(PUBLICITY_OPENED_AT), window.opened_at
        assert window.end_at < datetime.fromisoformat(cluster.env["AWARD_FAKE_NOW"]), window.end_at
        entries = {e.application_id: e.outcome for e in session.scalars(select(PublicityEntry))}
        assert entries == dict.fromkeys(complete[LEFT_IN_REVIEW:], "passed"), entries
        states = {i: session.get(Application, i).state for i in complete}  # type: ignore[union-attr]
    assert states == {i: "dept_review" if i in complete[:LEFT_IN_REVIEW] else "publicity_passed" for i in complete}
    notices = sorted(p.suffix for p in (cluster.award_dir / "shared" / "publicity").rglob("*") if p.is_file())
    assert notices == [".docx", ".html"], notices


def _confirm_candidates(cluster: CeleryCluster) -> None:
    """Score the applications that passed publicity and confirm them as candidates, through the state machine."""
    from sqlalchemy import select

    from award.config import load_season
    from award.states import State, transition
    from award.store.db import session_scope
    from award.store.models import Application, ReviewScore
    from tests.factories import shortest_path

    season = load_season()
    # the normal path from scores to a confirmed candidate
    path = [State.REVIEWED, *shortest_path(State.REVIEWED, State.CANDIDATE_CONFIRMED)]
    with cluster.domain_env(), session_scope(cluster.domain_url) as session:
        apps = list(session.scalars(select(Application).where(Application.state == "publicity_passed")
                                    .order_by(Application.id)))
        assert apps
        for rank, app in enumerate(apps, start=1):
            session.add(ReviewScore(season=season.season_id, application_id=app.id, group=season.category(
                app.category).group, score=95.0 - rank, rank=rank, placement="candidate", source_sha256="0" * 64))
            for target in path:
                transition(session, app, target, actor="deploy-test", reason="评审得分与拟推荐名单公示见各自测试")


def _answer_approval(cluster: CeleryCluster, run_id: str, timeout: float = 300) -> None:
    """Wait for the run's approval task to ask, then answer it over the api-server's REST API as the office user."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asked = cluster.query(
            "SELECT ti.task_id, ti.map_index FROM task_instance ti JOIN hitl_detail h ON h.ti_id = ti.id"
            " WHERE ti.dag_id = 'recommendation' AND ti.run_id = :r AND ti.state = 'awaiting_input'"
            " AND h.responded_at IS NULL", r=run_id)
        if asked:
            [question] = asked
            cluster.rest("PATCH", f"/api/v2/dags/recommendation/dagRuns/{run_id}/taskInstances/"
                         f"{question['task_id']}/{question['map_index']}/hitlDetails", APPROVAL)
            return
        state = cluster.query("SELECT state FROM dag_run WHERE dag_id = 'recommendation' AND run_id = :r", r=run_id)
        assert state and state[0]["state"] in ("queued", "running"), f"the run ended without asking: {state}"
        time.sleep(1)
    raise AssertionError(f"recommendation run {run_id} did not ask for approval within {timeout} s")


def _verify_recommendation(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """The approved version was compiled, verified and exported; candidates exported; results and submission queued."""
    from sqlalchemy import select

    from award.config import load_season
    from award.store.db import session_scope
    from award.store.models import Application, AuditEvent, OutboxEmail, Package

    season = load_season()
    with session_scope(cluster.domain_url) as session:
        [package] = session.scalars(select(Package)).all()
        assert (package.status, package.approved_by) == ("sent", APPROVER), (package.status, package.approved_by)
        assert package.manifest["responded_by"] == HITL_USER, package.manifest
        assert package.zip_sha256 and (cluster.award_dir / "blobs" / package.zip_sha256[:2] / package.zip_sha256).is_file()
        exported = [a.id for a in session.scalars(select(Application).where(Application.state == "exported"))]
        assert exported, "no application exported"
        [approval] = session.scalars(select(AuditEvent).where(AuditEvent.action == "approve")).all()
        assert approval.actor == APPROVER
        unit = season.recommending_unit
        [national] = session.scalars(select(OutboxEmail).where(OutboxEmail.template == "national_submission")).all()
        mobile = load_season(cluster.env["AWARD_SEASON_FILE"]).national.contact_mobile
        assert national.subject == f"{unit.name}+{unit.contact}+{mobile}", national.subject
        assert national.to_addrs == [str(season.national.recipient_email)]
    _verify_deadline_alert(cluster, runs["recommendation"])


def _verify_deadline_alert(cluster: CeleryCluster, run_id: str, timeout: float = 120) -> None:
    """The run's deadline alert (due 2023-06-12 09:00, long past in real time) fired on the real scheduler and its
    callback ran in the triggerer: it queued the staff notice to ops, or found the export already sent (dag.test()
    cannot run a DAG with a deadline alert on Airflow 3.3.2, see tests/recommendation). Waited for, so that the
    notice is queued before the outbox stage."""
    sql = ("SELECT d.missed, c.state, c.output FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id"
           " LEFT JOIN callback c ON c.id = d.callback_id WHERE r.dag_id = 'recommendation' AND r.run_id = :r")
    deadline = time.monotonic() + timeout
    rows = cluster.query(sql, r=run_id)
    while not (rows and rows[0]["state"] in ("success", "failed")) and time.monotonic() < deadline:
        time.sleep(1)
        rows = cluster.query(sql, r=run_id)
    assert rows and rows[0]["missed"] and rows[0]["state"] == "success", rows
    output = rows[0]["output"] or ""
    assert output.startswith("outbox e-mail ") or output == "already exported", output
    notices = cluster.query("SELECT subject, to_addrs FROM outbox_email WHERE template = 'staff_notice'"
                            " AND subject LIKE '%尚未按时报送%'", url=cluster.domain_url)
    if output.startswith("outbox e-mail "):
        assert len(notices) == 1, notices  # one notice a day, however many runs missed it


def _prepare_outbox(cluster: CeleryCluster) -> None:
    """Queue a few staff notices in the domain store on PostgreSQL for the outbox DAG to send."""
    from award.config import load_season
    from award.mail.outbox import enqueue
    from award.store.db import session_scope

    season = load_season()
    with cluster.domain_env(), session_scope(cluster.domain_url) as session:  # queued at AWARD_FAKE_NOW
        for n in range(OUTBOX_MAILS):
            context = {"greeting": "王经理", "unit": season.recommending_unit, "season_label": season.award.name,
                       "title": f"部署测试 {n}", "text": "分布式运行测试邮件。", "items": []}
            enqueue(session, key=f"deploy-test:{n}", template="staff_notice", to=[f"staff{n}@example.com"],
                    context=context)


def _verify_outbox(cluster: CeleryCluster, runs: dict[str, str]) -> None:
    """Every queued e-mail (staff notices, intake and completeness replies) was sent to the SMTP catcher."""
    from collections import Counter

    rows = cluster.query(
        "SELECT idempotency_key, template, application_id, to_addrs, cc_addrs, status, message_id FROM outbox_email",
        url=cluster.domain_url,
    )
    unsent = [r for r in rows if r["status"] != "sent" or not r["message_id"]]
    assert not unsent, unsent
    staff = sorted(r["idempotency_key"] for r in rows if r["idempotency_key"].startswith("deploy-test:"))
    assert staff == [f"deploy-test:{n}" for n in range(OUTBOX_MAILS)]
    received = Counter(rcpt for mail in cluster.smtp.messages for rcpt in mail.rcpt_tos)
    queued = Counter(addr for r in rows for addr in [*_addresses(r["to_addrs"]), *_addresses(r["cc_addrs"])])
    assert received == queued, f"received {received}, queued {queued}"

    states = {r["id"]: r["state"] for r in cluster.query("SELECT id, state FROM application", url=cluster.domain_url)}
    letters = [r for r in rows if r["template"] == "opinion_request"]
    assert letters and all(r["application_id"] is None for r in letters), letters
    templates: dict[int, set[str]] = {app_id: set() for app_id in states}
    for r in rows:
        if r["application_id"] is not None:
            templates[r["application_id"]].add(r["template"])
    assert templates == {app_id: EXPECTED_MAILS[state] for app_id, state in states.items()}, (templates, states)


def _addresses(value: Any) -> list[str]:
    """The recipients of an outbox row (a JSON list, or its text)."""
    return list(json.loads(value) if isinstance(value, str) else value)


@dataclass(frozen=True)
class Stage:
    """One pipeline DAG of the distributed run: its run conf, what to put in place before, what to check after.

    ``prepare`` runs before the first run starts; ``setup`` runs right before this DAG's run is triggered (after
    the earlier stages' runs have finished); ``answer`` answers the run's human-in-the-loop questions while it runs.
    ``verify`` runs as soon as this DAG's run has finished, before the next stage moves the applications on.
    """

    conf: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[CeleryCluster], None] | None = None
    setup: Callable[[CeleryCluster], None] | None = None
    verify: Callable[[CeleryCluster, dict[str, str]], None] | None = None
    answer: Callable[[CeleryCluster, str], None] | None = None
    timeout: float = 420  # bounded, not a race: a loaded machine is slow, a correct run still finishes


# The pipeline's DAGs, run in this order (each after the previous one has finished: they hand over through the
# store). A DAG listed in SKIPPED, or whose file dags/<dag_id>.py is absent, is skipped (and the reason printed).
PIPELINE_DAGS: dict[str, Stage] = {
    "intake": Stage(prepare=_prepare_intake, verify=_verify_intake),
    "completeness": Stage(verify=_verify_completeness),
    "opinions": Stage(verify=_verify_opinions),
    "publicity": Stage(conf={"purpose": "provincial", "opened_at": PUBLICITY_OPENED_AT},
                       setup=_clear_for_publicity, verify=_verify_publicity),
    "recommendation": Stage(setup=_confirm_candidates, answer=_answer_approval, verify=_verify_recommendation),
    "outbox": Stage(prepare=_prepare_outbox, verify=_verify_outbox),
}
SKIPPED: dict[str, str] = {}


def _pipeline_dags_present() -> list[str]:
    """Pipeline DAG ids to run: configured here and with a file dags/<dag_id>.py; the others are printed."""
    present = [d for d in PIPELINE_DAGS if (REPO / "dags" / f"{d}.py").exists()]
    for dag_id in PIPELINE_DAGS:
        if dag_id not in present:
            print(f"pipeline DAG {dag_id} skipped: dags/{dag_id}.py is absent")
    for dag_id, reason in SKIPPED.items():
        print(f"pipeline DAG {dag_id} skipped: {reason}")
    return present


def _verify_pools(cluster: CeleryCluster) -> None:
    """deploy/pools.json is what the deployment runs with: smtp limits sends, imap allows one session."""
    expected = {name: spec["slots"] for name, spec in json.loads(POOLS_FILE.read_text()).items()}
    rows = cluster.query("SELECT pool, slots FROM slot_pool WHERE pool = ANY(:p)", p=list(expected))
    assert {r["pool"]: r["slots"] for r in rows} == expected == {"smtp": 4, "imap": 1}


def test_dags_run_on_celery_worker(celery_cluster: CeleryCluster) -> None:
    """Run the probe and a generated season through the pipeline DAGs; every task ran on the Celery worker.

    One test for the whole deployment (its cluster starts once, and pytest-xdist cannot split it across workers).
    """
    cluster = celery_cluster
    _verify_pools(cluster)
    pipeline = _pipeline_dags_present()
    dag_ids = [PROBE_DAG, *pipeline]
    cluster.wait_for_dags(dag_ids)

    for dag_id in pipeline:  # all input in place before the first run
        stage = PIPELINE_DAGS[dag_id]
        if stage.prepare is not None:
            stage.prepare(cluster)

    runs = {PROBE_DAG: cluster.trigger(PROBE_DAG, {"items": PROBE_ITEMS, "batch_size": PROBE_BATCH})}
    for dag_id in pipeline:
        stage = PIPELINE_DAGS[dag_id]
        if stage.setup is not None:
            stage.setup(cluster)
        runs[dag_id] = cluster.trigger(dag_id, stage.conf)
        started = time.monotonic()
        if stage.answer is not None:
            stage.answer(cluster, runs[dag_id])
        state = cluster.wait_for_runs([(dag_id, runs[dag_id])], timeout=stage.timeout)[(dag_id, runs[dag_id])]
        print(f"{dag_id} run {runs[dag_id]}: {state} after {time.monotonic() - started:.0f}s")
        assert state == "success", f"{dag_id}: {_failed(_task_instances(cluster, {dag_id: runs[dag_id]}))}"
        if stage.verify is not None:  # before a later stage moves the applications on
            stage.verify(cluster, runs)

    states = cluster.wait_for_runs(list(runs.items()), timeout=300)
    tis = _task_instances(cluster, runs)
    # A task reports success to the API server a moment before its Celery task returns: let the results land.
    deadline = time.monotonic() + 60
    while any(ti["celery_status"] not in ("SUCCESS", "FAILURE") for ti in tis) and time.monotonic() < deadline:
        time.sleep(1)
        tis = _task_instances(cluster, runs)
    assert states == dict.fromkeys(runs.items(), "success"), f"{states}\n{_failed(tis)}\n{cluster.logs()}"
    assert {ti["dag_id"] for ti in tis} == set(runs), "a run without task instances"

    ran = [ti for ti in tis if ti["state"] != "skipped"]
    assert ran
    for ti in ran:
        where = f"{ti['dag_id']}.{ti['task_id']}[{ti['map_index']}]"
        assert ti["state"] == "success", where
        assert ti["hostname"] == cluster.worker_hostname, f"{where} ran on {ti['hostname']!r}"
        assert ti["queue"] == cluster.queue, f"{where} queued on {ti['queue']!r}"
        assert ti["external_executor_id"], f"{where} has no Celery task id"
        assert ti["celery_status"] == "SUCCESS", f"{where}: Celery result {ti['celery_status']!r}"
        assert ti["executor"] in (None, "CeleryExecutor"), where
    for dag_id in pipeline:  # every task of the pipeline runs ran, except a mapped task over an empty plan
        skipped = [ti for ti in tis if ti["dag_id"] == dag_id and ti["state"] == "skipped"]
        may_skip = {MAPPED_TASKS.get(dag_id), *UNASKED_HITL.get(dag_id, ()), *BRANCHES_NOT_TAKEN.get(dag_id, ())}
        assert all(ti["task_id"] in may_skip and ti["map_index"] == -1 for ti in skipped), skipped
        if dag_id in UNASKED_HITL:  # no question was due: nobody had to answer
            assert {ti["task_id"] for ti in skipped} == UNASKED_HITL[dag_id], skipped
        if dag_id in BRANCHES_NOT_TAKEN:
            assert {ti["task_id"] for ti in skipped} == BRANCHES_NOT_TAKEN[dag_id], skipped
    for dag_id in pipeline:
        if dag_id in MAPPED_TASKS:
            _verify_mapped(cluster, dag_id, runs[dag_id], MAPPED_TASKS[dag_id])

    # The test's runs are the only ones (no scheduled or asset-triggered run, and recommendation took no branch
    # that triggers the candidate publicity), and nothing ran anywhere but on the worker.
    every_run = cluster.query("SELECT dag_id, run_id, run_type, state FROM dag_run")
    assert {(r["dag_id"], r["run_id"]) for r in every_run} == set(runs.items()), every_run
    hosts = cluster.query("SELECT DISTINCT hostname FROM task_instance WHERE coalesce(hostname, '') <> ''")
    assert {r["hostname"] for r in hosts} == {cluster.worker_hostname}

    probe = [ti for ti in tis if ti["dag_id"] == PROBE_DAG]
    sends = sorted(ti["map_index"] for ti in probe if ti["task_id"] == "send_batch")
    assert sends == list(range(-(-PROBE_ITEMS // PROBE_BATCH))), "one mapped task per batch, not per item"
    pools = {ti["task_id"]: ti["pool"] for ti in probe}
    assert pools["send_batch"] == "smtp" and pools["poll_mailbox"] == "imap"
    rows = cluster.query(
        "SELECT kind, count(*) AS n FROM deploy_probe WHERE run_id = :r GROUP BY kind",
        url=cluster.domain_url,
        r=runs[PROBE_DAG],
    )
    assert {r["kind"]: r["n"] for r in rows} == {"send": PROBE_ITEMS, "poll": 1}

    print(f"distributed run: {runs}; {len(ran)} task instances on {cluster.worker_hostname}")


def _verify_mapped(cluster: CeleryCluster, dag_id: str, run_id: str, task_id: str) -> None:
    """The DAG's per-batch task ran as mapped task instances (map_index >= 0) on the worker in the test's run."""
    rows = cluster.query(
        "SELECT map_index, state, hostname FROM task_instance WHERE dag_id = :d AND run_id = :r AND task_id = :t"
        " ORDER BY map_index",
        d=dag_id, r=run_id, t=task_id,
    )
    assert rows and all(r["map_index"] >= 0 for r in rows), f"{dag_id}.{task_id} did not run mapped: {rows}"
    for r in rows:
        where = f"{dag_id}.{task_id}[{r['map_index']}] of {run_id}"
        assert r["state"] == "success" and r["hostname"] == cluster.worker_hostname, f"{where}: {r}"


def _task_instances(cluster: CeleryCluster, runs: dict[str, str]) -> list[dict[str, Any]]:
    """Task instances of the given runs, each with the status of its Celery task in the result backend."""
    return cluster.query(
        "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.state, ti.hostname, ti.queue, ti.pool,"
        " ti.external_executor_id, ti.executor, m.status AS celery_status"
        " FROM task_instance ti LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id"
        " WHERE ti.dag_id || '/' || ti.run_id = ANY(:runs)",
        runs=[f"{dag_id}/{run_id}" for dag_id, run_id in runs.items()],
    )


def _failed(tis: list[dict[str, Any]]) -> str:
    return "\n".join(str(ti) for ti in tis if ti["state"] != "success")
