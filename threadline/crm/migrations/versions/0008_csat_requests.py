"""csat_requests: the CSAT question asked after a handoff closed, and the customer's 1-5 answer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('csat_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('trigger', sa.String(length=12), nullable=False),
    sa.Column('source_id', sa.String(length=40), nullable=False),
    sa.Column('asked_at', sa.DateTime(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_csat_requests_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_csat_requests')),
    sa.UniqueConstraint('trigger', 'source_id', name='uq_csat_requests_trigger_source')
    )
    with op.batch_alter_table('csat_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_csat_requests_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_csat_requests_asked_at'), ['asked_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('csat_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_csat_requests_asked_at'))
        batch_op.drop_index(batch_op.f('ix_csat_requests_customer_id'))
    op.drop_table('csat_requests')
