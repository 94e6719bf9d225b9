"""Personal data never reaches the logs: a database error during intake logs no ID number, phone or e-mail."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, text

from award.store import session_scope
from award.store.models import InboundItem, Problem


def _force_insert_error(url: str) -> None:
    """A trigger that rejects every new applicant; on PostgreSQL its error text quotes the row's key and phone,
    as PostgreSQL's own ``DETAIL: Key (key)=(...)`` does for a unique violation."""
    with session_scope(url) as session:
        if url.startswith("sqlite"):
            session.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON applicant "
                                 "BEGIN SELECT RAISE(ABORT, 'forced failure'); END"))
        else:
            session.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'forced failure' USING DETAIL = 'Key (key)=(' || NEW.key || ') phone ' "
                "|| coalesce(NEW.phone, '') || ' mail ' || coalesce(NEW.email, ''); END $$ LANGUAGE plpgsql"))
            session.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON applicant "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse()"))


def test_db_error_in_intake_logs_no_personal_data(fake_now, make_rt, tmp_path: Path, db_url: str, season, monkeypatch,
                                                    caplog) -> None:
    from award.demo.generator import generate
    from award.demo.setup import deliver
    from award.inbound.sources import MaildirSource, fetch_mail, fetch_storage
    from award.intake import process_pending

    fake_now("2023-05-20T10:00:00+08:00")
    gen = generate(tmp_path / "gen", 12, 3, season=season, defect_share=0.0, channels=("mail",))
    people = [a for a in gen.applications if a.category == "individual"]
    assert people, "the generated set must hold an individual (ID number)"
    deliver(tmp_path / "gen", tmp_path / "maildir", tmp_path / "shared")
    rt = make_rt(db_url)
    _force_insert_error(db_url)

    caplog.set_level(logging.DEBUG)
    with session_scope(db_url) as s:
        fetch_mail(s, rt, MaildirSource(tmp_path / "maildir", "office"))
        fetch_storage(s, rt)
    with session_scope(db_url) as s:
        result = process_pending(s, rt)
    assert result.failed == len(gen.applications)  # the error really happened, for every item

    logged = "\n".join(caplog.messages) + "\n" + caplog.text
    assert "forced failure" in logged or "IntegrityError" in logged or "Error" in logged
    secrets = [a.fields["id_number"] for a in people]
    secrets += [a.fields.get("phone") or a.fields.get("contact_phone") for a in gen.applications]
    secrets += [a.fields.get("email") or a.fields.get("contact_email") for a in gen.applications]
    secrets = [s for s in secrets if s]
    assert secrets
    leaked = [s for s in secrets if s in logged or s.upper() in logged]
    assert not leaked, f"personal data in the log: {leaked}"
    with session_scope(db_url) as s:  # what staff see of the failure names the error class, not the data
        problems = " ".join(p.message for p in s.scalars(select(Problem)))
        assert s.scalar(select(InboundItem.status).limit(1)) == "failed"
    assert not [x for x in secrets if x in problems]


def test_log_records_of_the_package_are_masked(caplog) -> None:
    log = logging.getLogger("award.test")
    caplog.set_level(logging.INFO)
    try:
        raise ValueError("row 62010219800101123X 13912345678")
    except ValueError:
        log.exception("applicant %s phone %s", "62010219800101123X", "13912345678")
    assert "62010219800101123X" not in caplog.text and "13912345678" not in caplog.text
    assert "620***********123X" in caplog.text and "139****5678" in caplog.text
    assert "ValueError" in caplog.text  # the traceback is kept, masked
