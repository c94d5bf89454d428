"""officers directory: unverified numbers and leavers

A number added by hand is unverified until an admin confirms it (verified_at NULL), and
identifies no one until then; an officer who leaves keeps their row (requests name them)
with left_at set. Existing numbers were all verified and stay so. A downgrade removes the
unverified numbers, which the older schema cannot hold.

Revision ID: 79437f838550
Revises: b525fde1aeda
Create Date: 2026-11-29 23:30:33.355080

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '79437f838550'
down_revision = 'b525fde1aeda'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('officer_phone', schema=None) as batch_op:
        batch_op.alter_column('verified_at',
               existing_type=sa.DateTime(timezone=True),
               nullable=True)


def downgrade():
    op.execute("DELETE FROM officer_phone WHERE verified_at IS NULL")
    with op.batch_alter_table('officer_phone', schema=None) as batch_op:
        batch_op.alter_column('verified_at',
               existing_type=sa.DateTime(timezone=True),
               nullable=False)

    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.drop_column('left_at')
