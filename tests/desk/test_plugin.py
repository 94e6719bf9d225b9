"""The desk plugin's FastAPI app, in process: registration, authentication on every route, pages, downloads and
staff actions (CSRF, audit under the user's name, the same domain functions as the CLI).

Authentication here is Airflow's real ``get_user`` dependency: anonymous requests carry no token. The pages'
functional tests replace that one dependency with a fixed user (the browser test logs in for real).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.api_fastapi.core_api.security import get_user
from desk.airflow_side import TaskRef
from desk.app import create_app, csrf_token
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from award.desk.queries import unit_index, unit_names
from award.runtime import Runtime
from award.store import session_scope
from award.store.models import Application, AuditEvent, Objection, OutboxEmail
from tests.desk.conftest import Desk


@dataclass
class FakeUser:
    """Stands in for the auth manager's user in the functional tests."""

    name: str = "张科长"

    def get_id(self) -> str:
        return "staff-1"

    def get_name(self) -> str:
        return self.name


class FakeAirflow:
    """The Airflow side with one open question and one failed task."""

    def pending_decisions(self, limit: int = 50) -> list[TaskRef]:
        return [TaskRef("opinions", "scheduled__2023-05-12T01:00:00+00:00", "decide", 0, None, "部门有异议：请决定")]

    def failed_tasks(self, since: timedelta = timedelta(hours=24), limit: int = 50) -> list[TaskRef]:
        return [TaskRef("intake", "manual__1", "archive", -1, None)]


def _runtime(desk: Desk) -> Runtime:
    return Runtime(season=desk.season, db_url=desk.url, blobs=desk.blobs, shared=desk.shared)


@pytest.fixture()
def anonymous(desk: Desk) -> TestClient:
    """A client without credentials; Airflow's auth manager (simple) exists, as in the api-server."""
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()
    return TestClient(create_app(lambda: _runtime(desk), FakeAirflow()), follow_redirects=False)


@pytest.fixture()
def staff(desk: Desk) -> TestClient:
    app = create_app(lambda: _runtime(desk), FakeAirflow())
    app.dependency_overrides[get_user] = FakeUser
    return TestClient(app, follow_redirects=False)


def _paths(app: Any, desk: Desk) -> list[tuple[str, str]]:
    """Every route of the app with real values in its path parameters."""
    values = {"submission_no": desk.seeded.incomplete, "kind": "material", "ident": "1", "name": "x.xlsx",
              "objection_id": str(desk.seeded.unmatched_objection_id), "mail_id": str(desk.seeded.failed_mail_id)}
    out = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path)
        out.extend((method, path) for method in sorted(route.methods))
    return out


def test_plugin_registers_the_app_and_the_nav_entry() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    desk = [a for a in apps if a["url_prefix"] == "/desk"]
    assert len(desk) == 1 and desk[0]["name"] == "申报工作台"
    views, _ = plugins_manager._get_ui_plugins()
    assert {"name": "申报工作台", "href": "desk/", "destination": "nav"}.items() <= next(
        v for v in views if v.get("url_route") == "award_desk").items()
    assert not any(r.path in ("/docs", "/openapi.json", "/redoc") for r in desk[0]["app"].routes)


def test_every_route_refuses_anonymous_requests(anonymous: TestClient, desk: Desk) -> None:
    paths = _paths(anonymous.app, desk)
    assert {p for _m, p in paths} >= {"/", "/applications", f"/applications/{desk.seeded.incomplete}",
                                      "/documents", "/files/material/1", "/reports/x.xlsx"}
    secrets = [desk.seeded.incomplete, desk.season.province.cities[1], "示例", *desk.seeded.phones]
    seen = set()
    for method, path in paths:
        for headers in ({}, {"accept": "text/html"}, {"Authorization": "Bearer "}):
            r = anonymous.request(method, path, headers=headers, data={"csrf_token": "x", "reference": "r"})
            if r.status_code == 303:
                assert method == "GET" and "/auth/login" in r.headers["location"], (method, path)
            else:
                assert r.status_code == 401, (method, path, r.status_code)
            seen.add(r.status_code)
            assert not any(s in r.text for s in secrets), (method, path)
    assert seen == {303, 401}  # pages redirect a browser to the login page, the rest is 401
    with session_scope(desk.url) as session:  # nothing changed
        assert session.scalar(select(Application.state).where(
            Application.submission_no == desk.seeded.incomplete)) == "incomplete"


def test_forged_token_gets_no_data(anonymous: TestClient, desk: Desk) -> None:
    anonymous.cookies.set("_token", "not-a-jwt")
    r = anonymous.get("/files/material/1")
    assert r.status_code in (401, 403) and b"form_docx" not in r.content


def test_overview_page(staff: TestClient, desk: Desk) -> None:
    r = staff.get("/")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert 'id="total">12<' in html
    with session_scope(desk.url) as session:
        units = set(unit_index(session, desk.season).values())
    assert units and units <= set(unit_names(desk.season))
    for unit in units:
        assert unit in html  # every unit named as the season names it
    assert "待补正" in html and "省级申报截止" in html and "剩余工作日" in html
    assert "required_actions?response_received=false" in html and "/required_actions" in html
    assert "dags/opinions/runs/scheduled__2023-05-12T01%3A00%3A00%2B00%3A00/tasks/decide/mapped/0/required_actions" in html
    assert "SMTP 550" in html and ">archive<" in html
    assert desk.season.recommending_unit.name in html


def test_list_page_filters_and_masks(staff: TestClient, desk: Desk) -> None:
    html = staff.get("/applications").text
    assert 'id="count">12<' in html
    assert not any(p in html for p in desk.seeded.phones + desk.seeded.id_numbers)
    html = staff.get("/applications", params={"waiting": "true"}).text
    assert 'id="count">2<' in html and desk.seeded.objection in html
    html = staff.get("/applications", params={"q": desk.seeded.id_numbers[0]}).text
    assert 'id="count">1<' in html and desk.seeded.person in html


def test_application_page_and_download(staff: TestClient, desk: Desk) -> None:
    r = staff.get(f"/applications/{desk.seeded.incomplete}")
    assert r.status_code == 200
    html = r.text
    assert "宏.docm" in html and "发送失败" in html and "办理记录" in html
    links = re.findall(r'href="(/files/material/\d+)"', html)
    assert len(links) == 2
    shas = re.findall(r"<code>([0-9a-f]{64})</code>", html)
    got = staff.get(links[0])
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() in shas
    assert got.headers["x-content-sha256"] == hashlib.sha256(got.content).hexdigest()
    assert "attachment" in got.headers["content-disposition"]
    assert str(desk.blobs.root) not in html + str(got.headers)  # no filesystem path anywhere
    assert staff.get("/files/material/9999").status_code == 404
    assert staff.get("/files/nosuchkind/1").status_code == 404
    assert staff.get("/applications/GS-1900-0000").status_code == 404


def test_application_page_names_a_pending_key_and_staff_review(staff: TestClient, desk: Desk) -> None:
    from award.clock import now
    from award.intake.keyentry import stand_in_key
    from award.store.models import CheckResult, CheckRun

    with session_scope(desk.url) as s:
        app = s.scalar(select(Application).where(Application.submission_no == desk.seeded.incomplete))
        app.applicant.key = stand_in_key("ab" * 32)
        run = CheckRun(application_id=app.id, checked_at=now(), outcome="review", input_hash="1" * 64,
                       problems_hash="1" * 64)
        s.add(run)
        s.flush()
        s.add(CheckResult(check_run_id=run.id, rule_id="fields.required", severity="review", passed=False,
                          message="申报表中未找到“统一社会信用代码”一栏", details={"kind": "not_found"}))
        category = app.category
    html = staff.get(f"/applications/{desk.seeded.incomplete}").text
    label = "身份证号码" if category == "individual" else "统一社会信用代码"
    assert f"待核实（表内未读到{label}）" in html and "pending:" not in html
    assert "（待人工核对）申报表中未找到" in html and ">待人工核对</span>" in html
    listing = staff.get("/applications", params={"q": desk.seeded.incomplete}).text
    assert f"待核实（表内未读到{label}）" in listing and "pending:" not in listing


def test_documents_page_and_report_download(staff: TestClient, desk: Desk) -> None:
    desk.shared.write(f"reports/{desk.season.season_id}/形式审查情况-20230511-090000.html", b"<p>report</p>")
    html = staff.get("/documents").text
    assert "形式审查情况-20230511-090000.html" in html and "最新" in html
    r = staff.get("/reports/形式审查情况-20230511-090000.html")
    assert r.status_code == 200 and r.content == b"<p>report</p>"
    assert staff.get("/reports/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_withdraw_is_csrf_protected_and_audited(staff: TestClient, desk: Desk) -> None:
    no = desk.seeded.incomplete
    assert staff.post(f"/applications/{no}/withdraw", data={"reference": "来函"}).status_code == 422
    assert staff.post(f"/applications/{no}/withdraw",
                      data={"reference": "来函", "csrf_token": "0" * 64}).status_code == 403
    token = csrf_token(FakeUser())
    cross = staff.post(f"/applications/{no}/withdraw", data={"reference": "来函", "csrf_token": token},
                       headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    r = staff.post(f"/applications/{no}/withdraw", data={"reference": "2023年5月20日来函", "csrf_token": token},
                   files={"request_file": ("撤回申请.pdf", b"%PDF-1.4 withdraw", "application/pdf")})
    assert r.status_code == 303 and "done=withdrawn" in r.headers["location"]
    with session_scope(desk.url) as session:
        app = session.scalar(select(Application).where(Application.submission_no == no))
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == app.id,
                                                          AuditEvent.entity_type == "application")).all()
        mail = session.scalar(select(OutboxEmail).where(OutboxEmail.idempotency_key == f"withdrawal:{app.id}"))
        assert app.state == "withdrawn"
        last = events[-1]
        assert (last.actor, last.to_state) == ("张科长", "withdrawn") and "2023年5月20日来函" in last.reason
        request = next(e for e in events if e.action == "withdrawal_request")
        assert request.details["sha256"] == hashlib.sha256(b"%PDF-1.4 withdraw").hexdigest()
        assert desk.blobs.exists(request.details["sha256"])  # archived
        assert mail is not None and "撤回" in mail.subject
    again = staff.post(f"/applications/{no}/withdraw", data={"reference": "再次", "csrf_token": token})
    assert again.status_code == 303  # a repeat is a no-op
    assert "已办结" in staff.get(f"/applications/{no}").text


def test_assign_objection_from_the_overview(staff: TestClient, desk: Desk) -> None:
    token = csrf_token(FakeUser())
    oid = desk.seeded.unmatched_objection_id
    assert staff.post(f"/objections/{oid}/assign", data={"submission_no": desk.seeded.objection}).status_code == 422
    r = staff.post(f"/objections/{oid}/assign", data={"submission_no": desk.seeded.objection, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith(f"/applications/{desk.seeded.objection}?done=assigned")
    with session_scope(desk.url) as session:
        obj = session.get(Objection, oid)
        event = session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "objection",
                                                        AuditEvent.entity_id == oid))
        assert obj.status == "open" and obj.application_id is not None and event.actor == "张科长"
    wrong = staff.post(f"/objections/{oid}/assign", data={"submission_no": desk.seeded.objection, "csrf_token": token})
    assert wrong.status_code == 303 and "error=" in wrong.headers["location"]  # already assigned: said, not crashed


def test_log_records_without_a_name_pass_the_pii_filter() -> None:
    """structlog's stdlib formatter (Airflow's processes) rebuilds records with ``makeLogRecord``: name None."""
    import logging

    import award  # noqa: F401 - installs the PII-masking record factory

    assert logging.makeLogRecord({"msg": "ok"}).getMessage() == "ok"


def test_requeue_a_failed_mail(staff: TestClient, desk: Desk) -> None:
    token = csrf_token(FakeUser())
    mid = desk.seeded.failed_mail_id
    assert f'action="/mails/{mid}/retry"' in staff.get(f"/applications/{desk.seeded.incomplete}").text
    assert staff.post(f"/mails/{mid}/retry", data={"csrf_token": "bad"}).status_code == 403
    r = staff.post(f"/mails/{mid}/retry", data={"csrf_token": token,
                                                "back": f"/applications/{desk.seeded.incomplete}"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=requeued")
    with session_scope(desk.url) as session:
        mail = session.get(OutboxEmail, mid)
        event = session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "outbox_email",
                                                        AuditEvent.entity_id == mid))
        assert mail.status == "pending" and (event.actor, event.from_state, event.to_state) == (
            "张科长", "failed", "pending")
    html = staff.get(f"/applications/{desk.seeded.incomplete}").text
    assert f"邮件 #{mid}：发送失败 → 待发送" in html  # the requeue is on the application's timeline
    again = staff.post(f"/mails/{mid}/retry", data={"csrf_token": token})
    assert again.status_code == 303  # pending: requeued at once again, no error
    assert staff.post("/mails/99999/retry", data={"csrf_token": token}).status_code == 404


def test_record_paper_and_usb_receipt(staff: TestClient, desk: Desk) -> None:
    token = csrf_token(FakeUser())
    no = desk.seeded.person
    form = staff.get(f"/applications/{no}").text
    assert f'action="/applications/{no}/receipt"' in form
    assert staff.post(f"/applications/{no}/receipt", data={"copies": "3"}).status_code == 422
    assert staff.post(f"/applications/{no}/receipt", data={"copies": "3", "csrf_token": "x"}).status_code == 403
    r = staff.post(f"/applications/{no}/receipt", data={"copies": "3", "usb": "1", "received_at": "2023-05-24T10:30",
                                                        "note": "快递", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=receipt")
    bad = staff.post(f"/applications/{no}/receipt", data={"copies": "-1", "csrf_token": token})
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    with session_scope(desk.url) as session:
        app = session.scalar(select(Application).where(Application.submission_no == no))
        event = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == app.id,
                                                         AuditEvent.action == "paper_receipt")).one()
        assert event.actor == "张科长" and event.details["copies"] == 3 and event.details["usb"]
        assert event.details["received_at"].startswith("2023-05-24T10:30")
    html = staff.get(f"/applications/{no}").text
    assert "2023-05-24 10:30" in html and "张科长" in html


def test_loading_the_plugin_does_not_import_the_app() -> None:
    """The scheduler and the dag-processor load every plugin; only the api-server needs the desk's app."""
    import subprocess
    import sys

    code = ("import sys, desk_plugin; from desk_plugin import AwardDeskPlugin, PREFIX; "
            "assert 'desk.app' not in sys.modules and 'fastapi' not in sys.modules, sorted(sys.modules); "
            "apps = AwardDeskPlugin().fastapi_apps; assert apps[0]['url_prefix'] == PREFIX == '/desk'; "
            "import desk.app; assert desk.app.PREFIX == PREFIX")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root / "plugins")



def test_documents_page_lists_letters_and_packages_with_their_verification(staff: TestClient, desk: Desk) -> None:
    """Issue 14 'Documents': the letters and the package versions with their verification result, downloadable."""
    from award.store.models import OpinionRequest, Package

    letter = desk.blobs.put_bytes(b"PK letter docx")
    package = desk.blobs.put_bytes(b"PK package zip")
    with session_scope(desk.url) as session:
        request = session.scalars(select(OpinionRequest)).first()
        assert request is not None
        request.letter_sha256 = letter.sha256
        pkg = Package(season=desk.season.season_id, version=2, status="failed", content_hash="c" * 64,
                      zip_sha256=package.sha256)
        session.add(pkg)
        session.flush()
        session.add(AuditEvent(entity_type="package", entity_id=pkg.id, action="verify_failed", actor="system",
                               details={"problems": ["汇总表缺少 GS-2023-0003"]}))
        request_id, package_id = request.id, pkg.id
    html = staff.get("/documents").text
    assert "汇总表缺少 GS-2023-0003" in html
    for kind, ident, data in (("letter", request_id, b"PK letter docx"), ("package", package_id, b"PK package zip")):
        assert f'href="/files/{kind}/{ident}"' in html, kind
        got = staff.get(f"/files/{kind}/{ident}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert str(desk.blobs.root) not in html


def test_an_unknown_mail_is_shown_and_can_be_requeued(staff: TestClient, desk: Desk) -> None:
    """A mail whose outcome is unknown (issue 13) is on the overview and staff can requeue it (unknown -> pending)."""
    with session_scope(desk.url) as session:
        app_id = session.scalar(select(Application.id).where(Application.submission_no == desk.seeded.incomplete))
        mail = OutboxEmail(idempotency_key="desk:unknown:1", template="ack", application_id=app_id,
                           to_addrs=["u@example.com"], subject="已收到申报材料", body_text="…", status="unknown",
                           attempts=1, last_error="SendOutcomeUnknown: no reply after the data")
        session.add(mail)
        session.flush()
        mid = mail.id
    assert f'action="/mails/{mid}/retry"' in staff.get("/").text  # listed among the mails not delivered
    r = staff.post(f"/mails/{mid}/retry", data={"csrf_token": csrf_token(FakeUser())})
    assert r.status_code == 303 and "done=requeued" in r.headers["location"]
    with session_scope(desk.url) as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "outbox_email",
                                                        AuditEvent.entity_id == mid))
        assert session.get(OutboxEmail, mid).status == "pending"
        assert (event.actor, event.from_state, event.to_state) == ("张科长", "unknown", "pending")


def test_a_corrupt_file_never_downloads_as_a_complete_file(staff: TestClient, desk: Desk) -> None:
    """Issue 13: every blob read checks its SHA-256, the desk's streamed downloads too: a corrupt blob aborts the
    response at its end (the browser sees a failed download), it is never served as a finished file."""
    from award.storage.blobs import BlobCorrupt

    html = staff.get(f"/applications/{desk.seeded.incomplete}").text
    link = re.findall(r'href="(/files/material/\d+)"', html)[0]
    sha = staff.get(link).headers["x-content-sha256"]
    path = desk.blobs.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"%PDF-1.4 damaged on disk")
    with pytest.raises(BlobCorrupt):
        staff.get(link)
