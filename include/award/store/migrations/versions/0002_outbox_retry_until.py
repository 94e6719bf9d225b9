"""outbox: retry_until (when a definite send failure stops being retried and the e-mail is marked failed)

Revision ID: 0002_outbox
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_outbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_email") as batch:
        batch.add_column(sa.Column("retry_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_email") as batch:
        batch.drop_column("retry_until")
