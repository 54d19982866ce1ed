"""insights page indexes (issue #17, PostgreSQL page data over 500 ms): the recent cycles'
indexes cover what the page counts of them and the day index that misled the planner goes; the
range's customer days and cycle counts are read from indexes alone

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_insights_cycles_day_channel', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_resolved', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_abandoned', table_name='insights_cycles')
    op.create_index('ix_insights_cycles_resolved', 'insights_cycles',
                    ['back', 'resolved_at', 'day', 'channel', 'resolved_how'], unique=False)
    op.create_index('ix_insights_cycles_abandoned', 'insights_cycles',
                    ['has_next', 'last_at', 'abandon_reason', 'day', 'channel'], unique=False)
    op.create_index('ix_insights_customer_days_day_previous', 'insights_customer_days',
                    ['day', 'channel', 'previous_day'], unique=False)
    op.create_index('ix_insights_cycle_counts_sums', 'insights_cycle_counts',
                    ['day', 'channel', 'name', 'key', 'n'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_insights_cycle_counts_sums', table_name='insights_cycle_counts')
    op.drop_index('ix_insights_customer_days_day_previous', table_name='insights_customer_days')
    op.drop_index('ix_insights_cycles_abandoned', table_name='insights_cycles')
    op.drop_index('ix_insights_cycles_resolved', table_name='insights_cycles')
    op.create_index('ix_insights_cycles_abandoned', 'insights_cycles', ['has_next', 'abandon_reason', 'last_at'],
                    unique=False)
    op.create_index('ix_insights_cycles_resolved', 'insights_cycles', ['back', 'resolved_at'], unique=False)
    op.create_index('ix_insights_cycles_day_channel', 'insights_cycles', ['day', 'channel'], unique=False)
