"""outbox: calls and messages to place, written with the change that asks for them

A row is written in the transaction of the change that asks for a call or message (an
offer to a phone-only clinician, a clinician rung into a conference, an officer called
back, a senior alerted, a reply to the officer) and sent after the commit by whichever
process claims it; the scheduler retries what is still due. Its state is checked: a
'sent' row has Twilio's SID, a 'sending' row names who claimed it and until when.

Revision ID: 75d290830db8
Revises: 7a3f1c9e2b64
Create Date: 2026-11-29 20:07:52.572854

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '75d290830db8'
down_revision = '7a3f1c9e2b64'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('call', 'message', name='outbox_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('purpose', sa.Enum('offer', 'clinician_in', 'officer_back', 'senior_alert', 'reply', name='outbox_purpose', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('state', sa.Enum('pending', 'sending', 'sent', 'withdrawn', 'failed', name='outbox_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('clinician_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_tried_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('twilio_sid', sa.String(length=64), nullable=True),
    sa.CheckConstraint("state <> 'sending' OR (claimed_by IS NOT NULL AND claimed_until IS NOT NULL)", name=op.f('ck_outbox_sending_claimed')),
    sa.CheckConstraint("state <> 'sent' OR (twilio_sid IS NOT NULL AND sent_at IS NOT NULL)", name=op.f('ck_outbox_sent_sid')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_attempts')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_outbox_clinician_id_clinician')),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_outbox_message_id_message')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_outbox_offer_id_offer')),
    sa.ForeignKeyConstraint(['request_id'], ['advice_request.id'], name=op.f('fk_outbox_request_id_advice_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('twilio_sid', name=op.f('uq_outbox_twilio_sid'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_open_due', ['due_at'], unique=False, sqlite_where=sa.text("state IN ('pending', 'sending')"), postgresql_where=sa.text("state IN ('pending', 'sending')"))
        batch_op.create_index(batch_op.f('ix_outbox_request_id'), ['request_id'], unique=False)



def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_request_id'))
        batch_op.drop_index('ix_outbox_open_due', sqlite_where=sa.text("state IN ('pending', 'sending')"), postgresql_where=sa.text("state IN ('pending', 'sending')"))

    op.drop_table('outbox')
