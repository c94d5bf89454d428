"""rota patterns: weekly shifts from which the rota's shifts are made

An admin keeps a weekly pattern per clinician (London local times) instead of adding
every shift by hand; generated_until records the last date made, so each date is made
once and a shift removed by hand is not made again.

Revision ID: ce81e2fe3e61
Revises: 2bb62d0d1d7a
Create Date: 2026-11-29 23:30:27.317807

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ce81e2fe3e61'
down_revision = '2bb62d0d1d7a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rota_pattern',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('generated_until', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('valid_until IS NULL OR valid_until >= valid_from', name=op.f('ck_rota_pattern_until_after_from')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_rota_pattern_weekday_monday_to_sunday')),
    sa.ForeignKeyConstraint(['clinician_id'], ['clinician.id'], name=op.f('fk_rota_pattern_clinician_id_clinician')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rota_pattern'))
    )
    with op.batch_alter_table('rota_pattern', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rota_pattern_clinician_id'), ['clinician_id'], unique=False)



def downgrade():
    with op.batch_alter_table('rota_pattern', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rota_pattern_clinician_id'))

    op.drop_table('rota_pattern')
