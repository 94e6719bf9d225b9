"""paper_receipt: the bound paper copies (一式三份) and the USB stick of each application, and when they arrived

Revision ID: 0003_paper
Revises: 0002_outbox
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_paper"
down_revision: str | None = "0002_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("paper_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usb_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"],
                                name=op.f("fk_paper_receipt_application_id_application")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_receipt")),
        sa.UniqueConstraint("application_id", name=op.f("uq_paper_receipt_application_id")),
    )


def downgrade() -> None:
    op.drop_table("paper_receipt")
