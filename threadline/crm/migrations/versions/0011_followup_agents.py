"""promises.agent_id and followups.agent_id: the agent who made a promise, and the agent a
follow-up task goes to (None: the console's queue) (issue #18: an overdue promise goes to the
agent who made it, or the queue); followups.summary_languages: the task's summary in the other
languages agents read

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('promises', 'followups'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('agent_id', sa.String(length=40), nullable=True))
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_agent_id_agents'), 'agents', ['agent_id'], ['id'])
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary_languages', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_column('summary_languages')
    for table in ('followups', 'promises'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_agent_id_agents'), type_='foreignkey')
            batch_op.drop_column('agent_id')
