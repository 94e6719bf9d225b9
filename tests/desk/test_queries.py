"""The desk's read models and `award show`: counts from the store, one application's page, PII masked."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from award.cli import main
from award.desk import SCHEMA, ApplicationFilter, application_view, documents, list_applications, overview
from award.desk.documents import PACKAGE_STATUSES
from award.desk.queries import (
    CHANNELS,
    MAIL_STATUSES,
    MATERIAL_KINDS,
    VERDICTS,
    unit_index,
    unit_names,
)
from award.store import session_scope
from award.store.models import Application, InboundItem, Problem
from award.templating import message_catalogue
from tests.desk.conftest import Desk
from tests.unit.test_messages import _chinese_literals

CONTRACT_KEYS = {
    "schema", "submission_no", "season", "state", "state_label", "terminal", "category", "category_label",
    "recommending_unit", "channel", "channels", "channel_labels", "multi_channel", "received_at", "state_changed_at",
    "correction_due", "waiting", "applicant", "fields", "field_labels", "timeline", "files", "inbound", "refused", "findings",
    "opinions", "objections", "publicity", "paper", "paper_receipts", "mails",
}


def test_overview_counts_match_the_store(desk: Desk) -> None:
    with session_scope(desk.url) as session:
        view = overview(session, desk.season)
        by_state = dict(session.execute(select(Application.state, func.count()).group_by(Application.state)).all())
        units = unit_index(session, desk.season)
        triples: dict[tuple[str, str, str], int] = {}
        for app_id, st, cat in session.execute(select(Application.id, Application.state, Application.category)):
            triples[(st, cat, units[app_id])] = triples.get((st, cat, units[app_id]), 0) + 1
        incomplete = list_applications(session, desk.season, ApplicationFilter(state="incomplete"))["items"]
    assert view["total"] == 12
    assert {s["state"]: s["count"] for s in view["states"]} == by_state
    assert {(c["state"], c["category"], c["unit"]): c["count"] for c in view["counts"]} == triples
    assert all(u["unit"] in unit_names(desk.season) for u in view["units"])  # place names from the season
    assert [d["key"] for d in view["key_dates"]] == ["application_open", "provincial_deadline", "export_due",
                                                      "national_deadline"]
    assert {c["submission_no"] for c in view["corrections"]} == {a["submission_no"] for a in incomplete}
    assert [w["id"] for w in view["publicity_windows"]] == [desk.seeded.window_id]
    assert {o["status"] for o in view["objections"]} == {"open", "unmatched"}
    assert {m["status"] for m in view["undelivered_mails"]} == {"failed", "pending"}
    assert view["waiting_for_staff"] == 2  # the department objection and the publicity objection


def test_list_filters_and_search(desk: Desk) -> None:
    s = desk.seeded
    with session_scope(desk.url) as session:
        everything = list_applications(session, desk.season)
        waiting = list_applications(session, desk.season, ApplicationFilter(waiting=True))
        by_no = list_applications(session, desk.season, ApplicationFilter(q=s.incomplete[-4:]))
        by_id = list_applications(session, desk.season, ApplicationFilter(q=s.id_numbers[0]))
        by_partial_id = list_applications(session, desk.season, ApplicationFilter(q=s.id_numbers[0][:10]))
        person = application_view(session, desk.season, s.person, show_pii=True)
        by_code = list_applications(session, desk.season, ApplicationFilter(q=person["applicant"]["key"][:8]))
        unit = sorted(unit_index(session, desk.season).values())[0]
        city = list_applications(session, desk.season, ApplicationFilter(unit=unit))
        cat = list_applications(session, desk.season, ApplicationFilter(category="individual", channel="mail"))
        paged = list_applications(session, desk.season, ApplicationFilter(page=2), page_size=5)
        org = application_view(session, desk.season, s.incomplete, show_pii=True)["applicant"]
        by_org_code = list_applications(session, desk.season, ApplicationFilter(q=org["key"].lower()))
        by_name = list_applications(session, desk.season, ApplicationFilter(q=org["name"]))
    assert everything["total"] == 12 and len(everything["items"]) == 12
    assert {i["submission_no"] for i in waiting["items"]} == {s.objection, s.dept_objection}
    assert [i["submission_no"] for i in by_no["items"]] == [s.incomplete]
    assert [i["submission_no"] for i in by_id["items"]] == [s.person]  # a whole ID number finds the person
    assert by_partial_id["total"] == 0  # a fragment of an ID number finds nobody
    assert by_code["total"] == 0  # the person's key is an ID number, not a credit code
    assert city["total"] and all(i["unit"] == unit for i in city["items"])
    assert cat["total"] and all(i["category"] == "individual" and i["channel"] == "mail" for i in cat["items"])
    assert paged["pages"] == 3 and len(paged["items"]) == 5
    assert s.incomplete in [i["submission_no"] for i in by_org_code["items"]]  # an organisation by its credit code
    assert s.incomplete in [i["submission_no"] for i in by_name["items"]]  # ... and by its name
    assert all(i["name"] == org["name"] for i in by_name["items"])
    text = json.dumps(everything, ensure_ascii=False)
    for secret in [*s.id_numbers, *s.phones]:
        assert secret not in text


def test_application_view_has_the_whole_story(desk: Desk) -> None:
    with session_scope(desk.url) as session:
        view = application_view(session, desk.season, desk.seeded.incomplete)
        objection = application_view(session, desk.season, desk.seeded.objection)
        dept = application_view(session, desk.season, desk.seeded.dept_objection)
    assert view["schema"] == SCHEMA and set(view) == CONTRACT_KEYS
    assert view["state"] == "incomplete" and view["correction_due"] == "2023-05-17"
    assert [(e["action"], e["to_state"]) for e in view["timeline"]] == [("create", "received"),
                                                                       ("transition", "incomplete")]
    assert {f["kind"] for f in view["files"]} == {"form_docx", "evidence"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", f["sha256"]) and f["download"].startswith("material/")
               for f in view["files"])
    assert [r["code"] for r in view["refused"]] == ["active_content"] and "宏" in view["refused"][0]["reason"]
    assert [f["outcome"] for f in view["findings"]] == ["incomplete"]
    assert view["mails"][0]["status"] == "failed" and view["mails"][0]["last_error"] == "SMTP 550"
    assert objection["objections"][0]["status"] == "open"
    assert [p["window_id"] for p in objection["publicity"]] == [desk.seeded.window_id]
    assert "objection_received" in [e["action"] for e in objection["timeline"]]  # the objection's own events
    assert dept["opinions"][0]["verdict"] == "objection" and dept["waiting"]


def test_pii_masked_unless_asked(desk: Desk) -> None:
    with session_scope(desk.url) as session:
        masked = json.dumps(application_view(session, desk.season, desk.seeded.person), ensure_ascii=False)
        shown = json.dumps(application_view(session, desk.season, desk.seeded.person, show_pii=True),
                           ensure_ascii=False)
    id_number = desk.seeded.id_numbers[0]
    assert id_number not in masked and id_number[:3] + "*" in masked
    assert id_number in shown
    assert not any(p in masked for p in desk.seeded.phones)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_award_show(desk: Desk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWARD_DB_URL", desk.url)
    code, out = _run(capsys, "show", desk.seeded.person, "--json")
    data = json.loads(out)
    assert code == 0 and data["schema"] == SCHEMA and set(data) == CONTRACT_KEYS
    assert desk.seeded.id_numbers[0] not in out
    code, out = _run(capsys, "show", desk.seeded.person, "--json", "--show-pii")
    assert code == 0 and desk.seeded.id_numbers[0] in out
    code, out = _run(capsys, "show", desk.seeded.incomplete)
    assert code == 0 and "待补正" in out and "宏.docm" in out and "发送失败" in out
    assert not any(p in out for p in desk.seeded.phones)
    code, out = _run(capsys, "show", "GS-2023-9999", "--json")
    assert code == 2 and json.loads(out) == {
        "error": "submission_no: no application 'GS-2023-9999' in season cqa-5-2023", "field": "submission_no"}


def test_documents_lists_reports_windows_and_score_files(desk: Desk) -> None:
    desk.shared.write(f"reports/{desk.season.season_id}/形式审查情况-20230511-090000.xlsx", b"x")
    with session_scope(desk.url) as session:
        ref = desk.blobs.put_bytes(b"scores")
        item = InboundItem(season=desk.season.season_id, channel="local", source_key="scores:1", purpose="scores",
                           sha256=ref.sha256, size=ref.size, storage_uri=ref.uri, filename="scores/得分.xlsx",
                           status="failed")
        session.add(item)
        session.flush()
        session.add(Problem(inbound_item_id=item.id, code="scores.invalid", message="第3行：得分超出范围"))
        held = InboundItem(season=desk.season.season_id, channel="maildir", source_key="held:1", sha256=ref.sha256,
                           size=ref.size, storage_uri=ref.uri, sender="x@example.com", status="held")
        session.add(held)
    with session_scope(desk.url) as session:
        docs = documents(session, desk.season, desk.shared)
        view = overview(session, desk.season)
    assert [r["name"] for r in docs["reports"]] == ["形式审查情况-20230511-090000.xlsx"]
    assert [n["id"] for n in docs["notices"]] == [desk.seeded.window_id]
    assert [(f["filename"], f["refused"], f["problems"]) for f in docs["score_files"]] == [
        ("scores/得分.xlsx", True, ["第3行：得分超出范围"])]
    assert [h["sender"] for h in view["held"]] == ["x@example.com"]


def test_labels_cover_every_value_and_no_chinese_in_code() -> None:
    labels = message_catalogue("desk")["desk"]
    assert set(labels["channel"]) == set(CHANNELS) and set(labels["mail_status"]) == set(MAIL_STATUSES)
    assert set(labels["material"]) == set(MATERIAL_KINDS) and set(labels["verdict"]) == set(VERDICTS)
    assert set(labels["package_status"]) == set(PACKAGE_STATUSES)
    for module in ("desk/queries.py", "desk/__init__.py", "cli/show.py"):
        assert _chinese_literals(module) == [], module
