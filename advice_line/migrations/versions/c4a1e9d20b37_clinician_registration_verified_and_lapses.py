"""clinician registration: when the register was last checked, and when it lapses

A lapsed registration stops offers, and clinicians and seniors are warned ahead of it
(docs/DOMAIN.md#qualifying-clinicians). Both dates are unknown for existing clinicians
until an admin records them: no date means no lapse is known, as before.

Revision ID: c4a1e9d20b37
Revises: 79437f838550
Create Date: 2026-11-29 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a1e9d20b37'
down_revision = '79437f838550'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_verified_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('registration_lapses_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.drop_column('registration_lapses_on')
        batch_op.drop_column('registration_verified_on')
