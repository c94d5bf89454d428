"""same-person links between requests

A clinician may say that a request concerns the same person as an earlier one; the
request page then shows the person's earlier requests (docs/DOMAIN.md#finding-earlier-requests).
Each pair is stored once, earlier request first.

Revision ID: 5d1f3a7c9e20
Revises: 164f3c67b4e9
Create Date: 2026-11-30 06:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d1f3a7c9e20'
down_revision = '164f3c67b4e9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'same_person_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('earlier_request_id', sa.Integer(), nullable=False),
        sa.Column('later_request_id', sa.Integer(), nullable=False),
        sa.Column('linked_by_user_id', sa.Integer(), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            'earlier_request_id < later_request_id',
            name=op.f('ck_same_person_link_earlier_first'),
        ),
        sa.ForeignKeyConstraint(
            ['earlier_request_id'],
            ['advice_request.id'],
            name=op.f('fk_same_person_link_earlier_request_id_advice_request'),
        ),
        sa.ForeignKeyConstraint(
            ['later_request_id'],
            ['advice_request.id'],
            name=op.f('fk_same_person_link_later_request_id_advice_request'),
        ),
        sa.ForeignKeyConstraint(
            ['linked_by_user_id'],
            ['user_account.id'],
            name=op.f('fk_same_person_link_linked_by_user_id_user_account'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_same_person_link')),
        sa.UniqueConstraint(
            'earlier_request_id',
            'later_request_id',
            name=op.f('uq_same_person_link_earlier_request_id_later_request_id'),
        ),
    )
    with op.batch_alter_table('same_person_link', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_same_person_link_earlier_request_id'), ['earlier_request_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_same_person_link_later_request_id'), ['later_request_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('same_person_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_same_person_link_later_request_id'))
        batch_op.drop_index(batch_op.f('ix_same_person_link_earlier_request_id'))
    op.drop_table('same_person_link')
