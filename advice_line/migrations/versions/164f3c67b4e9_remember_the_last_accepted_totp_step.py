"""remember the last accepted TOTP step

A TOTP code stays valid for up to a minute and a half (one step either side of now); the
step of the last accepted code is kept so that code, once used, is refused if replayed.

Revision ID: 164f3c67b4e9
Revises: 3e1f0c7a9b52
Create Date: 2026-11-29 23:33:33.388301

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '164f3c67b4e9'
down_revision = '3e1f0c7a9b52'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
