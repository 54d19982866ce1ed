"""insights cycles: one row of facts per care cycle, their sums per day and channel, the customers whose facts must be
recomputed, and the refresh's watermark (issue #17, Scale: the page sums cycles, not messages)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('insights_cycles',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.Column('last_author', sa.String(length=10), nullable=False),
    sa.Column('useful_seconds', sa.Float(), nullable=True),
    sa.Column('useful_business_seconds', sa.Float(), nullable=True),
    sa.Column('useful_by', sa.String(length=10), nullable=True),
    sa.Column('reached_bot', sa.Boolean(), nullable=False),
    sa.Column('had_agent', sa.Boolean(), nullable=False),
    sa.Column('useful_bot', sa.Boolean(), nullable=False),
    sa.Column('handoffs', sa.Integer(), nullable=False),
    sa.Column('handoff_reasons', sa.Text(), nullable=True),
    sa.Column('repetitions', sa.Integer(), nullable=False),
    sa.Column('repeated', sa.Text(), nullable=True),
    sa.Column('counted', sa.Text(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_how', sa.String(length=10), nullable=True),
    sa.Column('back', sa.Boolean(), nullable=False),
    sa.Column('has_next', sa.Boolean(), nullable=False),
    sa.Column('abandon_reason', sa.String(length=60), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insights_cycles'))
    )
    op.create_index('ix_insights_cycles_day_channel', 'insights_cycles', ['day', 'channel'], unique=False)
    op.create_index('ix_insights_cycles_customer', 'insights_cycles', ['customer_id'], unique=False)
    op.create_index('ix_insights_cycles_last', 'insights_cycles', ['last_author', 'last_at'], unique=False)
    op.create_index('ix_insights_cycles_resolved', 'insights_cycles', ['back', 'resolved_at'], unique=False)
    op.create_index('ix_insights_cycles_abandoned', 'insights_cycles', ['has_next', 'abandon_reason', 'last_at'],
                    unique=False)
    op.create_table('insights_cycle_counts',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=30), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'channel', 'name', 'key', name=op.f('pk_insights_cycle_counts'))
    )
    op.create_table('insights_changed',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_insights_changed'))
    )
    op.create_table('insights_watermark',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_insights_watermark'))
    )


def downgrade() -> None:
    op.drop_table('insights_watermark')
    op.drop_table('insights_changed')
    op.drop_table('insights_cycle_counts')
    op.drop_index('ix_insights_cycles_abandoned', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_resolved', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_last', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_customer', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_day_channel', table_name='insights_cycles')
    op.drop_table('insights_cycles')
