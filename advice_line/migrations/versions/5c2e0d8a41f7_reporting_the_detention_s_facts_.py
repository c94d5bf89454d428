"""reporting: the detention's facts, handover minutes, the limit, the place used

Each request's fact row gains what the dashboard's detention figures count: whether the
officer reported detaining the person and whether they arrived at a place of safety, the
whole minutes (rounded up) from arrival to handover, whether the detention ended after
its limit, the limit itself while it runs (Unix seconds) and the place used, with an
index of the detained requests by hour. Every request's facts are then worked out again
by the newest migration that changes what they are made of (7a3c5e9d1b24), because the
app's SQL always matches the newest schema.

Revision ID: 5c2e0d8a41f7
Revises: b98597db0180
Create Date: 2026-11-29 18:37:58.058860

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c2e0d8a41f7'
down_revision = 'b98597db0180'
branch_labels = None
depends_on = None

FLAGS = ('detained', 'arrived', 'past_limit')


def upgrade():
    with op.batch_alter_table('request_fact', schema=None) as batch_op:
        for flag in FLAGS:  # 0 for the rows already there until the refresh below
            batch_op.add_column(
                sa.Column(flag, sa.SmallInteger(), nullable=False, server_default='0')
            )
        batch_op.add_column(sa.Column('handover_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('must_end_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('place_used', sa.Enum('health_based', 'emergency_department', 'police_station', 'other', name='place_of_safety_used', native_enum=False, create_constraint=True), nullable=True))
        batch_op.create_index('ix_request_fact_detained_received_hour', ['received_hour'], unique=False, sqlite_where=sa.text('detained = 1'), postgresql_where=sa.text('detained = 1'))
    with op.batch_alter_table('request_fact', schema=None) as batch_op:
        for flag in FLAGS:
            batch_op.alter_column(flag, server_default=None, existing_type=sa.SmallInteger(), existing_nullable=False)
    # Every request's facts are worked out again by the newest migration that changes
    # what they are made of (7a3c5e9d1b24): the app's SQL always matches the newest schema.


def downgrade():
    with op.batch_alter_table('request_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_request_fact_detained_received_hour', sqlite_where=sa.text('detained = 1'), postgresql_where=sa.text('detained = 1'))
        batch_op.drop_constraint(op.f('ck_request_fact_place_of_safety_used'), type_='check')
        batch_op.drop_column('place_used')
        batch_op.drop_column('must_end_by')
        batch_op.drop_column('handover_minutes')
        for flag in reversed(FLAGS):
            batch_op.drop_column(flag)
    # The older facts (made of the same parts less these) are still right.
