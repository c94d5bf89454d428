"""sessions that end: a user_session row per sign-in, named by the signed cookie

Revision ID: 7a3f1c9e2b64
Revises: 7a3c5e9d1b24
Create Date: 2026-11-29 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a3f1c9e2b64'
down_revision = '7a3c5e9d1b24'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_session',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            'ended_reason',
            sa.Enum(
                'signed_out',
                'deactivated',
                'expired',
                'idle',
                name='session_end',
                native_enum=False,
                create_constraint=True,
                length=11,
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            '(ended_at IS NULL) = (ended_reason IS NULL)',
            name=op.f('ck_user_session_ended_with_reason'),
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))
    op.drop_table('user_session')
