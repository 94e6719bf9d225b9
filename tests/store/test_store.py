"""The domain store on SQLite and PostgreSQL: migrations, natural keys, aware times, the append-only audit log."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from award.clock import TZ
from award.states import State, transition
from award.store import session_scope
from award.store.models import AppendOnlyError, Applicant, Application, AuditEvent, Material
from tests.factories import make_application


def test_migration_is_idempotent(db_url: str) -> None:
    from award.store.db import migrate

    migrate(db_url)  # second time: nothing to do, no error
    with session_scope(db_url) as session:
        assert session.execute(text("select count(*) from applicant")).scalar() == 0


def test_natural_keys_are_unique(db_url: str) -> None:
    with session_scope(db_url) as session:
        make_application(session, "cqa-5-2023", key="91330100MA27XXXX00", actor="intake")
    with pytest.raises(IntegrityError):
        with session_scope(db_url) as session:
            session.add(Applicant(kind="organization", key="91330100MA27XXXX00", name="重复"))


def test_material_same_content_recorded_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        app = make_application(session, "cqa-5-2023", actor="intake")
        session.add(Material(application_id=app.id, kind="evidence", filename="a.pdf", sha256="a" * 64, size=1,
                             source_channel="mail", storage_uri="file:///x"))
    with pytest.raises(IntegrityError):
        with session_scope(db_url) as session:
            session.add(Material(application_id=1, kind="evidence", filename="b.pdf", sha256="a" * 64, size=1,
                                 source_channel="city", storage_uri="file:///y"))


def test_datetimes_come_back_aware_in_shanghai(db_url: str) -> None:
    moment = datetime(2023, 5, 25, 16, 59, tzinfo=TZ)
    with session_scope(db_url) as session:
        app = make_application(session, "cqa-5-2023", actor="intake")
        app.received_at = moment
    with session_scope(db_url) as session:
        got = session.scalars(select(Application)).one().received_at
    assert got == moment and got.utcoffset().total_seconds() == 8 * 3600


def test_naive_datetime_is_refused(db_url: str) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        with session_scope(db_url) as session:
            app = make_application(session, "cqa-5-2023", actor="intake")
            app.received_at = datetime(2023, 5, 25, 12, 0)
            session.flush()


def test_transitions_are_audited(db_url: str) -> None:
    with session_scope(db_url) as session:
        app = make_application(session, "cqa-5-2023", actor="intake")
        transition(session, app, State.INCOMPLETE, actor="checks", reason="缺少公示证明")
        transition(session, app, State.COMPLETE, actor="checks", reason="补正完成")
    with session_scope(db_url) as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.from_state, e.to_state, e.actor) for e in events] == [
        ("create", None, "received", "intake"),
        ("transition", "received", "incomplete", "checks"),
        ("transition", "incomplete", "complete", "checks"),
    ]
    assert events[1].reason == "缺少公示证明"


def test_audit_log_is_append_only_in_the_orm(db_url: str) -> None:
    with session_scope(db_url) as session:
        make_application(session, "cqa-5-2023", actor="intake")
    with pytest.raises(AppendOnlyError):
        with session_scope(db_url) as session:
            event = session.scalars(select(AuditEvent)).first()
            event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        with session_scope(db_url) as session:
            session.delete(session.scalars(select(AuditEvent)).first())


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event"])
def test_audit_log_is_append_only_in_the_database(db_url: str, statement: str) -> None:
    with session_scope(db_url) as session:
        make_application(session, "cqa-5-2023", actor="intake")
    with pytest.raises(Exception, match="append-only"):
        with session_scope(db_url) as session:
            session.execute(text(statement))


def test_migrations_match_the_models(db_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: every model change came with its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from award.store.db import get_engine
    from award.store.models import Base

    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
