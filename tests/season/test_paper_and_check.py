"""Paper copies and the USB stick per application (award.paper, `award paper`), the completeness report's paper
column, and `award check DIR --json` on the demo's generated applications."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from award.cli import main as award_main
from award.clock import TZ
from award.config import load_season
from award.paper import PaperError, missing_on_paper, paper_state, record_receipt
from award.states import State
from award.store import session_scope
from award.store.models import Application, AuditEvent
from tests.factories import make_application

SEASON = load_season()


def test_record_receipt_paper_and_usb(db_url: str) -> None:
    with session_scope(db_url) as s:
        make_application(s, SEASON, n=1, city="兰州市")
        make_application(s, SEASON, n=2, city="兰州市")
    with session_scope(db_url) as s:
        assert [p.submission_no for p in missing_on_paper(s, SEASON)] == ["GS-2023-0001", "GS-2023-0002"]
        state = record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=2,
                               received_at=datetime(2023, 5, 20, 10, 0))
        assert state.missing == ["paper", "usb"] and state.copies == 2 and state.late == []
        state = record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=3, usb=True,
                               received_at=datetime(2023, 5, 24, 15, 0, tzinfo=TZ))
        assert state.missing == [] and state.late == []
        again = record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=3, usb=True,
                               received_at=datetime(2023, 5, 26, 9, 0, tzinfo=TZ))  # idempotent: times kept
        assert again.paper_received_at == datetime(2023, 5, 24, 15, 0, tzinfo=TZ) and again.late == []
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "paper_receipt")).all()
        assert len(events) == 3 and {e.actor for e in events} == {"李四"}
        assert [p.submission_no for p in missing_on_paper(s, SEASON)] == ["GS-2023-0002"]


def test_paper_after_the_deadline_is_late(db_url: str) -> None:
    with session_scope(db_url) as s:
        make_application(s, SEASON, n=1, city="兰州市")
    with session_scope(db_url) as s:
        state = record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=3, usb=True,
                               received_at=datetime(2023, 5, 26, 9, 0, tzinfo=TZ))
        assert state.missing == [] and state.late == ["paper", "usb"]
        assert [p.submission_no for p in missing_on_paper(s, SEASON)] == ["GS-2023-0001"]  # listed: late


def test_bad_receipts_are_refused(sqlite_url: str) -> None:
    with session_scope(sqlite_url) as s:
        make_application(s, SEASON, n=1, city="兰州市")
    with session_scope(sqlite_url) as s:
        with pytest.raises(PaperError, match="no application"):
            record_receipt(s, SEASON, "GS-2023-9999", actor="李四", copies=3)
        with pytest.raises(PaperError, match="nothing to record"):
            record_receipt(s, SEASON, "GS-2023-0001", actor="李四")
        with pytest.raises(PaperError, match="copies"):
            record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=-1)


def test_report_lists_what_is_missing_on_paper(sqlite_url: str) -> None:
    from award.completeness.report import report_frame

    with session_scope(sqlite_url) as s:
        make_application(s, SEASON, n=1, city="兰州市")
        make_application(s, SEASON, n=2, city="兰州市")
    with session_scope(sqlite_url) as s:
        record_receipt(s, SEASON, "GS-2023-0001", actor="李四", copies=3, usb=True,
                       received_at=datetime(2023, 5, 24, 15, 0, tzinfo=TZ))
        frame = report_frame(s, SEASON)
    paper = dict(zip(frame["submission_no"], frame["paper"], strict=True))
    assert paper["GS-2023-0001"].startswith("已收齐")
    assert "缺纸质材料（已收0份，应一式3份）" in paper["GS-2023-0002"] and "缺优盘" in paper["GS-2023-0002"]
    assert dict(zip(frame["submission_no"], frame["recommending_unit"], strict=True))["GS-2023-0001"] == \
        "兰州市市场监督管理局"


def test_cli_paper_record_show_missing(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWARD_DB_URL", sqlite_url)
    with session_scope(sqlite_url) as s:
        make_application(s, SEASON, n=1, city="兰州市")
    rc = award_main(["paper", "record", "GS-2023-0001", "--copies", "3", "--usb", "--at", "2023-05-24T10:30",
                     "--actor", "李四", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["missing"] == [] and out["paper_received_at"].startswith("2023-05-24T10:30")
    assert award_main(["paper", "missing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["applications"] == []
    assert award_main(["paper", "record", "GS-2023-0001", "--copies", "3", "--json"]) == 2  # no --actor
    assert "actor" in json.loads(capsys.readouterr().out)["error"]
    assert award_main(["paper", "show", "GS-2023-0404", "--json"]) == 2
    with session_scope(sqlite_url) as s:
        app = s.scalars(select(Application)).one()
        assert paper_state(SEASON, app).copies == 3


# ------------------------------------------------------------------ award check DIR --json


@pytest.fixture(scope="module")
def demo_apps(tmp_path_factory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    from award.demo.generator import generate

    root = tmp_path_factory.mktemp("demo")
    generate(root, 20, 2023, season=SEASON, defect_share=0.25)
    return root, json.loads((root / "manifest.json").read_text(encoding="utf-8"))


def _check(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    rc = award_main(["check", str(folder), "--today", "2023-05-10", "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


def test_award_check_on_the_demos_generated_applications(demo_apps, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    root, manifest = demo_apps
    seen = set()
    for app in manifest["applications"]:
        folder = tmp_path / app["folder"]
        for rel in app["files"]:
            (folder / Path(rel).name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, folder / Path(rel).name)
        if app["channel"] == "city":  # the unit's letter comes with the stick
            shutil.copyfile(root / manifest["city_letters"][app["city"]], folder / "审核推荐意见.pdf")
        rc, out = _check(folder, capsys)
        assert rc == 0 and set(out) == {"category", "outcome", "findings", "fields"}
        assert out["category"] == app["category"]
        for key in ("id_number", "phone", "contact_phone"):  # PII masked unless --show-pii
            assert not app["fields"].get(key) or app["fields"][key] != out["fields"].get(key)
        assert all({"rule", "blocking", "message"} <= set(f) for f in out["findings"])
        if not app["defects"]:
            assert out["outcome"] == "complete", out["findings"]
        elif {"defence_industry", "ineligible_school"} & set(app["defects"]):
            assert out["outcome"] == "ineligible"
        elif {"missing_material", "bad_check_char", "short_publicity", "pdf_mismatch"} & set(app["defects"]):
            assert out["outcome"] == "incomplete", (app["defects"], out["findings"])
        seen.add(out["outcome"])
    assert {"complete", "incomplete"} <= seen


def test_award_check_unreadable_file_is_a_finding(demo_apps, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, manifest = demo_apps
    app = next(a for a in manifest["applications"] if not a["defects"] and a["channel"] == "mail")
    folder = tmp_path / "one"
    folder.mkdir()
    for rel in app["files"]:
        shutil.copyfile(root / rel, folder / Path(rel).name)
    (folder / "第二份-申报表.docx").write_bytes(b"PK\x03\x04 not really a zip")
    rc, out = _check(folder, capsys)
    assert rc == 0 and out["outcome"] == "incomplete"
    assert any(f["rule"] == "files.readable" and "第二份-申报表.docx" in f["message"] for f in out["findings"])
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, out = _check(empty, capsys)
    assert rc == 0 and out["outcome"] == "incomplete" and out["category"] is None


def test_award_check_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _check(tmp_path / "nope", capsys)
    assert rc == 2 and "error" in out
    (tmp_path / "f.txt").write_text("x")
    rc, out = _check(tmp_path / "f.txt", capsys)
    assert rc == 2


# ------------------------------------------------------------------ the provincial process


def test_proven_first_round_goes_on_to_the_scores_after_the_deadline(db_url: str) -> None:
    """Gansu: the recommending unit consulted and publicised; the province runs completeness -> scores ->
    candidate publicity -> approval -> package, without its own 征求意见 and first 公示."""
    from datetime import date

    from award.process import advance_proven
    from award.states import transition
    from tests.seasons import ZHEJIANG

    with session_scope(db_url) as s:
        app = make_application(s, SEASON, n=1, city="兰州市")
        transition(s, app, State.COMPLETE, actor="checks", reason="test")
    with session_scope(db_url) as s:
        assert advance_proven(s, SEASON, today=date(2023, 5, 25)) == []  # the window is still open
        other = load_season(ZHEJIANG).model_copy(update={"season_id": SEASON.season_id})
        assert advance_proven(s, other, today=date(2023, 6, 1)) == []  # there the province consults itself
        moved = advance_proven(s, SEASON, today=date(2023, 5, 26))
        assert len(moved) == 1 and s.get(Application, moved[0]).state == "publicity_passed"
        event = s.scalars(select(AuditEvent).where(AuditEvent.to_state == "publicity_passed")).one()
        assert "推荐单位已征求相关部门意见并完成公示" in (event.reason or "")
        assert advance_proven(s, SEASON, today=date(2023, 5, 27)) == []  # idempotent
