"""Issue 12: nothing of Gansu is hard-coded. The second province's season (Zhejiang, with its own submission prefix)
runs the real path end to end: generated applications by e-mail and through the cities' folders, intake, the
checks and the e-mails sent, on SQLite and PostgreSQL. Every number, city, unit and signature comes from that
season, and no Gansu name or number reaches an applicant."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from sqlalchemy import select

from award.completeness.correction import run_checks
from award.config import load_season
from award.demo.generator import generate
from award.demo.setup import deliver
from award.inbound.sources import MaildirSource, fetch_mail, fetch_storage
from award.intake import process_pending
from award.mail.outbox import drain
from award.runtime import Runtime
from award.storage.blobs import LocalBlobStore
from award.storage.shared import LocalStorage
from award.store import session_scope
from award.store.models import Application
from tests.seasons import ZHEJIANG

GANSU = re.compile(r"甘肃|甘质强|兰州|0931|730030|鲁永武|gansu", re.IGNORECASE)


def test_the_second_province_runs_intake_checks_and_mails(tmp_path: Path, db_url: str, smtp_server,  # type: ignore[no-untyped-def]
                                                           monkeypatch) -> None:
    monkeypatch.setenv("AWARD_FAKE_NOW", "2023-05-10T10:00:00+08:00")
    season = load_season(ZHEJIANG).model_copy(update={"submission_prefix": "ZJ"})
    rt = Runtime(season, db_url, LocalBlobStore(tmp_path / "blobs"), LocalStorage(tmp_path / "shared"))
    gen = generate(tmp_path / "gen", 6, 5, season=season, defect_share=0.0, channels=("mail", "city"))
    deliver(tmp_path / "gen", tmp_path / "maildir", tmp_path / "shared")

    with session_scope(db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
        fetch_storage(s, rt)
    with session_scope(db_url) as s:
        result = process_pending(s, rt)
    assert result.applications_created == 6 and result.failed == 0
    summary = run_checks(partial(session_scope, db_url), season, rt.blobs.get_bytes)
    assert summary.checked == 6

    with session_scope(db_url) as s:
        apps = s.scalars(select(Application).order_by(Application.submission_no)).all()
        numbers = [a.submission_no for a in apps]
        cities = {a.applicant.city for a in apps}
        states = {a.submission_no: a.state for a in apps}
    assert numbers == [f"ZJ-2023-{n:04d}" for n in range(1, 7)]
    assert cities <= set(season.province.cities) and not cities & set(load_season().province.cities)
    assert set(states.values()) == {"complete"}, states  # the Zhejiang rules: no 审核推荐意见 for e-mailed ones
    assert {a.channel for a in gen.applications} == {"mail", "city"}

    sent = drain(partial(session_scope, db_url), smtp_server.sender(), rt.blobs.get_bytes)
    assert len(sent.sent) == len(smtp_server.messages) >= 12  # an acknowledgment and a result for each
    for mail in smtp_server.messages:
        text = mail.subject + mail.text()
        assert not GANSU.search(text), text
        assert re.search(r"ZJ-2023-\d{4}", text) and "GS-2023" not in text
        assert season.recommending_unit.name in text or season.recommending_unit.handled_by in text
