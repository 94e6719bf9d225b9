"""The domain store: SQLAlchemy 2 models, sessions and Alembic migrations."""

from award.store.db import get_engine, migrate, session_scope
from award.store.models import Base

__all__ = ["Base", "get_engine", "migrate", "session_scope"]
