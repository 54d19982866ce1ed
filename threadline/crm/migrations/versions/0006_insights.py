"""insights: what the operation metrics need and the CRM did not record

- interactions.response: the name of the bot response a bot message was (`utter_greet`, …), so
  a greeting, a fallback or a question back is not counted as a useful answer;
- opportunity_stage_changes: when each opportunity entered each stage (stalled and recovered
  leads, the channel funnel);
- handoffs.close_label: the agent's label when closing a sales conversation (price, delivery
  time, stock, payment, trust, other), the first source of abandonment reasons.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response', sa.String(length=100), nullable=True))
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('close_label', sa.String(length=20), nullable=True))
    op.create_table('opportunity_stage_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=12), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'],
                            name=op.f('fk_opportunity_stage_changes_opportunity_id_opportunities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_stage_changes'))
    )
    with op.batch_alter_table('opportunity_stage_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_stage_changes_opportunity_id'), ['opportunity_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('opportunity_stage_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_stage_changes_opportunity_id'))
    op.drop_table('opportunity_stage_changes')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('close_label')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_column('response')
