"""indexes on when handoffs, cases, identities, orders and opportunities were added (and handoffs
and cases resolved): every Insights page view's refresh asks for the rows new since its watermark,
a scan of each whole table without them (issue #17)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

INDEXED = (('handoffs', 'created_at'), ('handoffs', 'resolved_at'), ('cases', 'created_at'), ('cases', 'resolved_at'),
           ('channel_identities', 'created_at'), ('orders', 'placed_at'), ('opportunities', 'created_at'))


def upgrade() -> None:
    for table, column in INDEXED:
        op.create_index(f'ix_{table}_{column}', table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXED):
        op.drop_index(f'ix_{table}_{column}', table_name=table)
