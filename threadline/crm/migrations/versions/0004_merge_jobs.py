"""merge jobs (durable merges after a verified claim)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merge_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.String(length=40), nullable=False),
    sa.Column('merged_id', sa.String(length=40), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('audit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['audit_id'], ['audit_log.id'], name=op.f('fk_merge_jobs_audit_id_audit_log')),
    sa.ForeignKeyConstraint(['claim_id'], ['identity_claims.id'], name=op.f('fk_merge_jobs_claim_id_identity_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merge_jobs')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_merge_jobs_claim_id'))
    )
    with op.batch_alter_table('merge_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merge_jobs_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_merge_jobs_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('merge_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merge_jobs_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_merge_jobs_status'))
    op.drop_table('merge_jobs')
