"""scheduler ticks for the lag metric

Each scheduler notes when it last finished a tick, so /metrics can say how long ago any
did (advice_line_scheduler_last_tick_seconds) and an alert can tell a stopped scheduler
from a quiet line. The app's role gets its privileges by the default privileges.

Revision ID: b525fde1aeda
Revises: ce81e2fe3e61
Create Date: 2026-11-29 23:30:08.471637

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b525fde1aeda'
down_revision = 'ce81e2fe3e61'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scheduler_tick',
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('ticked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_tick'))
    )


def downgrade():
    op.drop_table('scheduler_tick')
