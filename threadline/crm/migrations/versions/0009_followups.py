"""followups and customer_opt_outs: follow-ups planned, sent, skipped and their outcome; opt-outs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('followups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=60), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=60), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('response', sa.String(length=100), nullable=True),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('planned_at', sa.DateTime(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('outcome_at', sa.DateTime(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('summary_text', sa.Text(), nullable=True),
    sa.Column('suggested_text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_followups_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_followups')),
    sa.UniqueConstraint('key', name=op.f('uq_followups_key'))
    )
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followups_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_followups_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_followups_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_followups_planned_at'), ['planned_at'], unique=False)
    op.create_table('customer_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_opt_outs_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_opt_outs'))
    )
    with op.batch_alter_table('customer_opt_outs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_opt_outs_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('customer_opt_outs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_opt_outs_customer_id'))
    op.drop_table('customer_opt_outs')
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followups_planned_at'))
        batch_op.drop_index(batch_op.f('ix_followups_status'))
        batch_op.drop_index(batch_op.f('ix_followups_kind'))
        batch_op.drop_index(batch_op.f('ix_followups_customer_id'))
    op.drop_table('followups')
