"""nuisance calls: one open request per number, a limit on new ones, nuisance closes

A request gains its standing within its priority (0 answered or verified, 1 unverified
with no answers, 2 past its number's limit on new requests), whether it was opened past
that limit, how many later calls or messages joined it, and when a senior closed it as a
nuisance call (it is then cancelled). The queue's index orders by standing too, and
requests are found by caller number and time (joining and the limit). Requests already
stored with neither a verified officer nor any answer get the standing the app now gives.
Each request's fact row gains whether it was closed as a nuisance call, and every
request's facts are worked out again here (moved from 5c2e0d8a41f7: the app's SQL always
matches the newest schema). Every change is a plain ADD COLUMN or index, so SQLite need
not rebuild a table.

Revision ID: 7a3c5e9d1b24
Revises: 7bc685ed5569
Create Date: 2026-11-29 20:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a3c5e9d1b24'
down_revision = '7bc685ed5569'
branch_labels = None
depends_on = None

COUNTERS = (('standing', sa.SmallInteger()), ('joined_contacts', sa.Integer()))


def upgrade():
    for name, kind in COUNTERS:
        op.add_column('advice_request', sa.Column(name, kind, nullable=False, server_default='0'))
    op.add_column(
        'advice_request',
        sa.Column('over_limit', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column('advice_request', sa.Column('nuisance_at', sa.DateTime(timezone=True)))
    op.add_column(
        'request_fact', sa.Column('nuisance', sa.SmallInteger(), nullable=False, server_default='0')
    )
    op.drop_index('ix_advice_request_queue', table_name='advice_request')
    op.create_index(
        'ix_advice_request_queue',
        'advice_request',
        ['status', 'priority', 'standing', 'waiting_since', 'id'],
        unique=False,
    )
    op.create_index(
        'ix_advice_request_caller_number',
        'advice_request',
        ['caller_number', 'received_at'],
        unique=False,
    )
    op.execute(
        "UPDATE advice_request SET standing = 1 WHERE officer_verified = false"
        " AND claimed_collar_number IS NULL AND claimed_force IS NULL"
        " AND risk_to_life IS NULL AND subject_under_18 IS NULL AND in_dwelling IS NULL"
    )

    from advice_line.reports.facts import refresh

    refresh(op.get_bind())


def downgrade():
    op.drop_column('request_fact', 'nuisance')
    op.drop_index('ix_advice_request_caller_number', table_name='advice_request')
    op.drop_index('ix_advice_request_queue', table_name='advice_request')
    op.create_index(
        'ix_advice_request_queue',
        'advice_request',
        ['status', 'priority', 'waiting_since', 'id'],
        unique=False,
    )
    # Plain DROP COLUMN (SQLite 3.35 and later): rebuilding the table would trip over
    # the rows that refer to it.
    for name in ('nuisance_at', 'over_limit', *(name for name, _ in reversed(COUNTERS))):
        op.drop_column('advice_request', name)
