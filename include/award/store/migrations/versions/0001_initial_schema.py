"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('applicant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=50), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('contact_name', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applicant')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_applicant_kind_key'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('entity_type', sa.String(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('mailbox_cursor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox', sa.String(length=200), nullable=False),
    sa.Column('folder', sa.String(length=200), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mailbox_cursor')),
    sa.UniqueConstraint('mailbox', 'folder', name=op.f('uq_mailbox_cursor_mailbox_folder'))
    )
    op.create_table('opinion_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('letter_sha256', sa.String(length=64), nullable=True),
    sa.Column('sheet_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_request')),
    sa.UniqueConstraint('token', name=op.f('uq_opinion_request_token'))
    )
    op.create_table('package',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=True),
    sa.Column('zip_sha256', sa.String(length=64), nullable=True),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=True),
    sa.Column('approval_text', sa.Text(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_package')),
    sa.UniqueConstraint('season', 'version', name=op.f('uq_package_season_version'))
    )
    op.create_table('publicity_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workdays', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notice_docx_sha256', sa.String(length=64), nullable=True),
    sa.Column('notice_html_sha256', sa.String(length=64), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_window'))
    )
    op.create_table('application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('submission_no', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('city', sa.String(length=50), nullable=True),
    sa.Column('multi_channel', sa.Boolean(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('correction_due', sa.Date(), nullable=True),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applicant_id'], ['applicant.id'], name=op.f('fk_application_applicant_id_applicant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application')),
    sa.UniqueConstraint('season', 'applicant_id', name=op.f('uq_application_season_applicant_id')),
    sa.UniqueConstraint('submission_no', name=op.f('uq_application_submission_no'))
    )
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_season_state', ['season', 'state'], unique=False)

    op.create_table('check_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('input_hash', sa.String(length=64), nullable=False),
    sa.Column('problems_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_check_run_application_id_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_run'))
    )
    with op.batch_alter_table('check_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_run_application_id'), ['application_id'], unique=False)

    op.create_table('inbound_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('source_key', sa.String(length=500), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('storage_uri', sa.String(length=500), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=True),
    sa.Column('sender', sa.String(length=300), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_inbound_item_application_id_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_item')),
    sa.UniqueConstraint('channel', 'source_key', name=op.f('uq_inbound_item_channel_source_key'))
    )
    with op.batch_alter_table('inbound_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_item_sha256'), ['sha256'], unique=False)

    op.create_table('opinion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_opinion_application_id_application')),
    sa.ForeignKeyConstraint(['request_id'], ['opinion_request.id'], name=op.f('fk_opinion_request_id_opinion_request')),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['opinion.id'], name=op.f('fk_opinion_superseded_by_id_opinion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion'))
    )
    with op.batch_alter_table('opinion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_request_id'), ['request_id'], unique=False)

    op.create_table('opinion_request_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_opinion_request_item_application_id_application')),
    sa.ForeignKeyConstraint(['request_id'], ['opinion_request.id'], name=op.f('fk_opinion_request_item_request_id_opinion_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_request_item')),
    sa.UniqueConstraint('request_id', 'application_id', name=op.f('uq_opinion_request_item_request_id_application_id'))
    )
    with op.batch_alter_table('opinion_request_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opinion_request_item_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opinion_request_item_request_id'), ['request_id'], unique=False)

    op.create_table('outbox_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=300), nullable=False),
    sa.Column('template', sa.String(length=80), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('to_addrs', sa.JSON(), nullable=False),
    sa.Column('cc_addrs', sa.JSON(), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_outbox_email_application_id_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_email')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_email_idempotency_key'))
    )
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_email_application_id'), ['application_id'], unique=False)

    op.create_table('publicity_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_publicity_entry_application_id_application')),
    sa.ForeignKeyConstraint(['window_id'], ['publicity_window.id'], name=op.f('fk_publicity_entry_window_id_publicity_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_entry')),
    sa.UniqueConstraint('window_id', 'application_id', name=op.f('uq_publicity_entry_window_id_application_id'))
    )
    with op.batch_alter_table('publicity_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publicity_entry_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_publicity_entry_window_id'), ['window_id'], unique=False)

    op.create_table('review_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('season', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('group', sa.String(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('placement', sa.String(length=16), nullable=True),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_review_score_application_id_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_score')),
    sa.UniqueConstraint('season', 'application_id', name=op.f('uq_review_score_season_application_id'))
    )
    op.create_table('check_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_run_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=60), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['check_run_id'], ['check_run.id'], name=op.f('fk_check_result_check_run_id_check_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_result'))
    )
    with op.batch_alter_table('check_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_result_check_run_id'), ['check_run_id'], unique=False)

    op.create_table('material',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('source_channel', sa.String(length=16), nullable=False),
    sa.Column('inbound_item_id', sa.Integer(), nullable=True),
    sa.Column('storage_uri', sa.String(length=500), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('superseded_by_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_material_application_id_application')),
    sa.ForeignKeyConstraint(['inbound_item_id'], ['inbound_item.id'], name=op.f('fk_material_inbound_item_id_inbound_item')),
    sa.ForeignKeyConstraint(['superseded_by_id'], ['material.id'], name=op.f('fk_material_superseded_by_id_material')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material')),
    sa.UniqueConstraint('application_id', 'sha256', name=op.f('uq_material_application_id_sha256'))
    )
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_material_application_id'), ['application_id'], unique=False)

    op.create_table('objection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('inbound_item_id', sa.Integer(), nullable=True),
    sa.Column('objector_name', sa.String(length=100), nullable=True),
    sa.Column('objector_email', sa.String(length=200), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_objection_application_id_application')),
    sa.ForeignKeyConstraint(['inbound_item_id'], ['inbound_item.id'], name=op.f('fk_objection_inbound_item_id_inbound_item')),
    sa.ForeignKeyConstraint(['window_id'], ['publicity_window.id'], name=op.f('fk_objection_window_id_publicity_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objection'))
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objection_window_id'), ['window_id'], unique=False)

    op.create_table('problem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_item_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=300), nullable=True),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['application.id'], name=op.f('fk_problem_application_id_application')),
    sa.ForeignKeyConstraint(['inbound_item_id'], ['inbound_item.id'], name=op.f('fk_problem_inbound_item_id_inbound_item')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problem'))
    )
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_inbound_item_id'), ['inbound_item_id'], unique=False)

    _audit_append_only()


def _audit_append_only() -> None:
    """The audit log refuses UPDATE and DELETE at the database level too."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_inbound_item_id'))
        batch_op.drop_index(batch_op.f('ix_problem_application_id'))

    op.drop_table('problem')
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_window_id'))
        batch_op.drop_index(batch_op.f('ix_objection_application_id'))

    op.drop_table('objection')
    with op.batch_alter_table('material', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_material_application_id'))

    op.drop_table('material')
    with op.batch_alter_table('check_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_result_check_run_id'))

    op.drop_table('check_result')
    op.drop_table('review_score')
    with op.batch_alter_table('publicity_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publicity_entry_window_id'))
        batch_op.drop_index(batch_op.f('ix_publicity_entry_application_id'))

    op.drop_table('publicity_entry')
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_email_application_id'))

    op.drop_table('outbox_email')
    with op.batch_alter_table('opinion_request_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_request_item_request_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_request_item_application_id'))

    op.drop_table('opinion_request_item')
    with op.batch_alter_table('opinion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opinion_request_id'))
        batch_op.drop_index(batch_op.f('ix_opinion_application_id'))

    op.drop_table('opinion')
    with op.batch_alter_table('inbound_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_item_sha256'))

    op.drop_table('inbound_item')
    with op.batch_alter_table('check_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_run_application_id'))

    op.drop_table('check_run')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_season_state')

    op.drop_table('application')
    op.drop_table('publicity_window')
    op.drop_table('package')
    op.drop_table('opinion_request')
    op.drop_table('mailbox_cursor')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_entity')

    op.drop_table('audit_event')
    op.drop_table('applicant')
