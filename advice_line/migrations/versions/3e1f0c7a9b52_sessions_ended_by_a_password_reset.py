"""sessions ended by a password reset

An admin's password reset ends the account's open sessions; ``user_session.ended_reason``
now says so (``password_reset``) rather than passing it off as a sign-out. The column
widens to the new value's length and its CHECK constraint takes it. Downgrading records
those sessions as signed out, the nearest reason the older schema has.

Revision ID: 3e1f0c7a9b52
Revises: c4a1e9d20b37
Create Date: 2026-11-29 23:50:00.000000

"""
from alembic import op
import sqlalchemy as sa

REASONS_BEFORE = ('signed_out', 'deactivated', 'expired', 'idle')
REASONS = (*REASONS_BEFORE, 'password_reset')
CONSTRAINT = 'ck_user_session_session_end'

# revision identifiers, used by Alembic.
revision = '3e1f0c7a9b52'
down_revision = 'c4a1e9d20b37'
branch_labels = None
depends_on = None


def _set_reasons(reasons, length):
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CONSTRAINT), type_='check')
        batch_op.alter_column(
            'ended_reason', type_=sa.String(length=length), existing_nullable=True
        )
        batch_op.create_check_constraint(
            op.f(CONSTRAINT), f"ended_reason IN ({', '.join(repr(r) for r in reasons)})"
        )


def upgrade():
    _set_reasons(REASONS, 14)


def downgrade():
    op.execute(
        "UPDATE user_session SET ended_reason = 'signed_out' WHERE ended_reason = 'password_reset'"
    )
    _set_reasons(REASONS_BEFORE, 11)
