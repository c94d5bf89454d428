"""recording: a request's conference recordings, fetched from Twilio into the line's storage

One row per Twilio RecordingSid (unique: the recording status webhook and the fetch are
idempotent by it). A row is 'reported' until its audio is in the line's storage
('fetched', with its storage key), then 'deleted_from_twilio' once Twilio's copy is gone,
and 'purged' when retention removes the audio.

Revision ID: 5e2b9c7d1a40
Revises: 5d1f3a7c9e20
Create Date: 2026-11-30 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2b9c7d1a40'
down_revision = '5d1f3a7c9e20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recording',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('recording_sid', sa.String(length=64), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('reported', 'fetched', 'deleted_from_twilio', 'purged', name='recording_status', native_enum=False, create_constraint=True, length=19), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_from_twilio_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status NOT IN ('fetched', 'deleted_from_twilio') OR storage_key IS NOT NULL", name=op.f('ck_recording_stored_key')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_recording_attempts')),
    sa.ForeignKeyConstraint(['request_id'], ['advice_request.id'], name=op.f('fk_recording_request_id_advice_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording')),
    sa.UniqueConstraint('recording_sid', name=op.f('uq_recording_recording_sid'))
    )
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.create_index('ix_recording_to_fetch', ['due_at'], unique=False, sqlite_where=sa.text("status IN ('reported', 'fetched')"), postgresql_where=sa.text("status IN ('reported', 'fetched')"))
        batch_op.create_index(batch_op.f('ix_recording_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_request_id'))
        batch_op.drop_index('ix_recording_to_fetch', sqlite_where=sa.text("status IN ('reported', 'fetched')"), postgresql_where=sa.text("status IN ('reported', 'fetched')"))

    op.drop_table('recording')
