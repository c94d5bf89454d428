"""clinicians can take calls in the browser

When a console page last said its browser can answer calls (Twilio's Voice SDK device
registered, microphone allowed): the line rings the browser instead of the phone while
this is within the presence grace.

Revision ID: 8d3f2a61c0b7
Revises: 5e2b9c7d1a40
Create Date: 2026-11-30 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d3f2a61c0b7'
down_revision = '5e2b9c7d1a40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.add_column(sa.Column('browser_phone_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('clinician', schema=None) as batch_op:
        batch_op.drop_column('browser_phone_at')
