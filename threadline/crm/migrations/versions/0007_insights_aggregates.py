"""insights aggregates: per-day, per-channel counters the Insights page reads instead of
scanning every message (issue #17, Scale); `bin/threadline metrics --rebuild-aggregates` fills
them from the rows already stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('insights_daily',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('customer_messages', sa.Integer(), nullable=False),
    sa.Column('bot_messages', sa.Integer(), nullable=False),
    sa.Column('agent_messages', sa.Integer(), nullable=False),
    sa.Column('cycles', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'channel', name=op.f('pk_insights_daily'))
    )
    op.create_table('insights_customer_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('previous_day', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('day', 'channel', 'customer_id', name=op.f('pk_insights_customer_days'))
    )
    op.create_index('ix_insights_customer_days_channel_customer', 'insights_customer_days',
                    ['channel', 'customer_id', 'day'], unique=False)
    op.create_table('insights_cycle_state',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('cycle_start', sa.DateTime(), nullable=True),
    sa.Column('cycle_end', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_insights_cycle_state'))
    )


def downgrade() -> None:
    op.drop_table('insights_cycle_state')
    op.drop_index('ix_insights_customer_days_channel_customer', table_name='insights_customer_days')
    op.drop_table('insights_customer_days')
    op.drop_table('insights_daily')
