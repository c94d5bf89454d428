"""bring a third party into the call, hand it over, supervise it

The clinician who holds a call can ring someone into the officer's conference: a call
leg of the new role ``third_party`` (its ``label`` says who, ``private`` that the officer
is on hold while they speak), placed through the outbox (purpose ``third_party``). A
handover ends the taker's offer as ``handed_over`` and accepts a new one for the other
clinician. The enum columns widen to the new values and their CHECK constraints take
them. A senior's call is a leg of role ``supervisor`` (outbox purpose ``supervisor``)
whose ``supervision`` says whether they listen, coach or have joined. Downgrading drops
third-party and supervisor legs and their outbox rows and records a handed-over offer as
``declined``, the nearest the older schema has.

Revision ID: 9c3e5a7f2d10
Revises: 8d3f2a61c0b7
Create Date: 2026-11-30 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

ROLES = ('officer', 'clinician')
OUTCOMES = ('accepted', 'declined', 'timed_out', 'rescinded', 'failed')
PURPOSES = ('offer', 'clinician_in', 'officer_back', 'senior_alert', 'reply')

# revision identifiers, used by Alembic.
revision = '9c3e5a7f2d10'
down_revision = '8d3f2a61c0b7'
branch_labels = None
depends_on = None


def _values(table, column, constraint, values, length):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f'ck_{table}_{constraint}'), type_='check')
        batch_op.alter_column(column, type_=sa.String(length=length))
        batch_op.create_check_constraint(
            op.f(f'ck_{table}_{constraint}'),
            f"{column} IN ({', '.join(repr(v) for v in values)})",
        )


def upgrade():
    _values('call_leg', 'role', 'leg_role', (*ROLES, 'third_party', 'supervisor'), 11)
    _values('offer', 'outcome', 'offer_outcome', (*OUTCOMES, 'handed_over'), 11)
    _values('outbox', 'purpose', 'outbox_purpose', (*PURPOSES, 'third_party', 'supervisor'), 12)
    with op.batch_alter_table('call_leg', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=80), nullable=True))
        batch_op.add_column(
            sa.Column('private', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('supervision', sa.String(length=6), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_call_leg_supervision'), "supervision IN ('listen', 'coach', 'join')"
        )


def downgrade():
    op.execute("DELETE FROM call_leg WHERE role IN ('third_party', 'supervisor')")
    op.execute("DELETE FROM outbox WHERE purpose IN ('third_party', 'supervisor')")
    op.execute("UPDATE offer SET outcome = 'declined' WHERE outcome = 'handed_over'")
    with op.batch_alter_table('call_leg', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_call_leg_supervision'), type_='check')
        batch_op.drop_column('supervision')
        batch_op.drop_column('private')
        batch_op.drop_column('label')
    _values('outbox', 'purpose', 'outbox_purpose', PURPOSES, 12)
    _values('offer', 'outcome', 'offer_outcome', OUTCOMES, 9)
    _values('call_leg', 'role', 'leg_role', ROLES, 9)
