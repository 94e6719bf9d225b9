"""End to end over generated applications with known defects: checks, e-mails read back from a real SMTP
server, a correction that moves an application to complete, reminders, closing after the deadline, the report."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from award.clock import TZ
from award.completeness.correction import run_checks, sweep_deadlines
from award.completeness.report import write_report
from award.demo.generator import DEFECTS, generate
from award.forms.pdf import render_pdf_copy_bytes
from award.mail.outbox import drain
from award.storage.blobs import LocalBlobStore
from award.storage.shared import LocalStorage
from award.store import session_scope
from award.store.models import Application, CheckRun, OutboxEmail
from tests.completeness.helpers import add_material, load_generated

# defect -> (final state after the first check, failing blocking rule ids, e-mail template)
EXPECTED = {
    None: ("complete", set(), "complete"),
    "two_channels": ("complete", set(), "complete"),
    "late": ("late", None, None),
    "missing_material": ("incomplete", {"materials.required"}, "correction"),
    "short_publicity": ("incomplete", {"publicity.min_workdays"}, "correction"),
    "pdf_mismatch": ("incomplete", {"consistency.form_pdf"}, "correction"),
    "defence_industry": ("ineligible", None, None),  # intake refuses these (its own mail); not checked
    "ineligible_school": ("ineligible", {"eligibility.school_type"}, "ineligible"),
}
SUBJECTS = {
    "complete": "形式审查通过通知",
    "correction": "申报材料补正通知",
    "ineligible": "申报不予受理通知：不符合申报条件",
    "correction_reminder": "补正提醒",
    "closed_incomplete": "申报终止通知",
}


def expected_for(entry: dict) -> tuple[str, set[str] | None, str | None]:  # type: ignore[type-arg]
    defect = entry["defects"][0] if entry["defects"] else None
    if defect == "bad_check_char":
        rule = "fields.id_number" if entry["category"] == "individual" else "fields.credit_code"
        return "incomplete", {rule}, "correction"
    return EXPECTED[defect]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """36 applications in which every defect of the generator occurs (the first such seed from 9)."""
    from award.config import load_season

    season = load_season()
    for seed in range(9, 60):
        root = tmp_path_factory.mktemp(f"gen{seed}")
        result = generate(root, 36, seed, season=season, defect_share=0.6)
        if set(result.summary()["by_defect"]) == set(DEFECTS):
            return root, json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    raise AssertionError("no seed produced every defect")


def _latest_failing(session, app_id: int) -> set[str]:  # type: ignore[no-untyped-def]
    run = session.scalar(select(CheckRun).where(CheckRun.application_id == app_id).order_by(CheckRun.id.desc()))
    return {r.rule_id for r in run.results if not r.passed and r.severity == "blocking"} if run else set()


def _mails_for(smtp, addr: str, number: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in smtp.to(addr) if number in m.subject]


def test_generated_season_end_to_end(db_url, tmp_path, generated, season, smtp_server, fake_now) -> None:
    root, manifest = generated
    blobs = LocalBlobStore(tmp_path / "blobs")
    sessions = partial(session_scope, db_url)
    with sessions() as session:
        ids = load_generated(session, blobs, season, root)

    # ---- first check, 2023-05-10 (Wednesday)
    summary = run_checks(sessions, season, blobs.get_bytes, run_id="test-1")
    entries = {e["key"]: e for e in manifest["applications"]}  # a second channel's entry replaces the first
    expected = {ids[k]: expected_for(e) for k, e in entries.items()}
    assert summary.checked == sum(1 for _, rules, _ in expected.values() if rules is not None)
    drain(sessions, smtp_server.sender(), blobs.get_bytes)

    with sessions() as session:
        for app_id, (state, rules, template) in expected.items():
            app = session.get(Application, app_id)
            assert app.state == state, (app.submission_no, entries[app.applicant.key]["defects"])
            if rules is not None:
                assert _latest_failing(session, app_id) == rules, app.submission_no
            mails = _mails_for(smtp_server, app.fields["email"], app.submission_no)
            assert [m.subject for m in mails] == (
                [] if template is None else [f"【第五届中国质量奖】{SUBJECTS[template]}（{app.submission_no}）"]
            ), app.submission_no
            if template == "correction":
                body = mails[0].text().replace("<br>", "\n")  # yagmail puts <br> into the plain part too
                assert "2023年5月17日" in body  # 5 working days after 2023-05-10
                assert app.correction_due.isoformat() == "2023-05-17"
                run = session.scalar(select(CheckRun).where(CheckRun.application_id == app_id))
                for result in run.results:
                    if not result.passed:
                        assert result.message in body
                        assert result.severity == "warning" or result.details["fix"] in body
            if template == "ineligible":
                body = mails[0].text()
                assert "不符合申报条件" in body
                assert body.count("不予受理") == 1  # said once, in the closing line (the finding says how to fix)
        counts = Counter(a.state for a in session.scalars(select(Application)))
    assert counts["complete"] and counts["incomplete"] and counts["ineligible"] and counts["late"]
    sent_before = len(smtp_server.messages)

    # ---- a re-run checks nothing and sends nothing
    assert run_checks(sessions, season, blobs.get_bytes).checked == 0
    drain(sessions, smtp_server.sender(), blobs.get_bytes)
    assert len(smtp_server.messages) == sent_before

    # ---- a correction arrives after the e-mail (2023-05-12): the right PDF copy of the form
    mismatch = next(ids[k] for k, e in entries.items() if e["defects"] == ["pdf_mismatch"])
    fake_now("2023-05-12T14:00:00")
    with sessions() as session:
        app = session.get(Application, mismatch)
        add_material(session, blobs, app, "更正-申报表.pdf", render_pdf_copy_bytes(
            f"form{'organization education sme team individual'.split().index(app.category) + 1}", app.fields))
    summary = run_checks(sessions, season, blobs.get_bytes, run_id="test-2")
    assert summary.checked == 1 and summary.outcomes == {"complete": 1}
    drain(sessions, smtp_server.sender(), blobs.get_bytes)
    with sessions() as session:
        app = session.get(Application, mismatch)
        assert app.state == "complete"
        mails = _mails_for(smtp_server, app.fields["email"], app.submission_no)
        assert [m.subject for m in mails][-1].endswith(f"形式审查通过通知（{app.submission_no}）")
        assert "经补正后已通过形式审查" in mails[-1].text()
        assert session.scalar(select(func.count()).select_from(CheckRun).where(CheckRun.application_id == mismatch)) == 2
        still_incomplete = [a.id for a in session.scalars(select(Application).where(Application.state == "incomplete"))]
    assert still_incomplete

    # ---- reminder two working days before the deadline (2023-05-15, Monday), once
    fake_now("2023-05-15T08:30:00")
    assert sorted(sweep_deadlines(sessions, season).reminded) == sorted(still_incomplete)
    assert sweep_deadlines(sessions, season).reminded == []
    before = len(smtp_server.messages)
    drain(sessions, smtp_server.sender(), blobs.get_bytes)
    reminders = smtp_server.messages[before:]
    assert len(reminders) == len(still_incomplete)
    assert all("补正提醒：请于2023年5月17日前补正" in m.subject for m in reminders)

    # ---- the deadline day is still open; the next working day closes them
    fake_now("2023-05-17T18:00:00")
    assert sweep_deadlines(sessions, season).closed == []
    fake_now("2023-05-18T08:30:00")
    assert sorted(sweep_deadlines(sessions, season).closed) == sorted(still_incomplete)
    before = len(smtp_server.messages)
    drain(sessions, smtp_server.sender(), blobs.get_bytes)
    closed = smtp_server.messages[before:]
    assert len(closed) == len(still_incomplete) and all("申报终止通知" in m.subject for m in closed)
    with sessions() as session:
        assert {a.state for a in session.scalars(select(Application).where(Application.id.in_(still_incomplete)))} == {
            "closed_incomplete"}
        assert session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.status != "sent")) == 0

    # ---- the staff report
    shared = LocalStorage(tmp_path / "shared")
    with sessions() as session:
        report = write_report(session, season, shared)
        apps = list(session.scalars(select(Application)))
        secrets = [a.fields.get("id_number") for a in apps] + [a.fields.get("contact_phone") or a.fields.get("phone")
                                                                for a in apps]
    assert report.xlsx_key == "reports/cqa-5-2023/形式审查情况.xlsx" and report.rows == len(apps) and report.changed
    frame = pd.read_excel(io.BytesIO(shared.read(report.xlsx_key)), sheet_name="明细", dtype=str).fillna("")
    assert len(frame) == len(apps)
    assert set(frame["状态"]) >= {"形式审查通过", "逾期未补正", "不符合申报条件", "逾期不予受理"}
    assert frame["最近邮件"].str.contains("申报终止通知").sum() == len(still_incomplete)
    html = shared.read(report.html_key).decode("utf-8")
    text = frame.to_csv() + html
    for secret in secrets:
        if secret:
            assert secret not in text
    assert "按市州、类别和状态汇总" in html and any(city in html for city in season.province.cities)

    # an unchanged report writes nothing; a change writes the latest again plus one dated copy
    listing = sorted(o.key for o in shared.list("reports/"))
    with sessions() as session:
        again = write_report(session, season, shared, at=datetime(2030, 1, 1, tzinfo=TZ))
    assert not again.changed and again.xlsx_key == report.xlsx_key
    assert sorted(o.key for o in shared.list("reports/")) == listing
    with sessions() as session:
        app = session.scalars(select(Application).where(Application.state == "complete")).first()
        app.state = "withdrawn"
        session.flush()
        changed = write_report(session, season, shared, at=datetime(2030, 1, 1, tzinfo=TZ))
    assert changed.changed
    assert len(sorted(o.key for o in shared.list("reports/"))) == len(listing) + 2
    assert any(o.key.endswith("形式审查情况-20300101-000000.xlsx") for o in shared.list("reports/"))
