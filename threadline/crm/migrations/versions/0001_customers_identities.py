"""customers, channel identities, identifier owners, claims, aliases, audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("merged_into", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(["merged_into"], ["customers.id"], name="fk_customers_merged_into_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("external_id", name="uq_customers_external_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("other_customer_id", sa.String(40), nullable=True),
        sa.Column("undo_data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("undone_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["undone_by"], ["audit_log.id"], name="fk_audit_log_undone_by_audit_log"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_customer_id", "audit_log", ["customer_id"])
    op.create_index("ix_audit_log_other_customer_id", "audit_log", ["other_customer_id"])
    op.create_table(
        "customer_aliases",
        sa.Column("alias_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alias_id"], ["customers.id"], name="fk_customer_aliases_alias_id_customers"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_customer_aliases_customer_id_customers"),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_log.id"], name="fk_customer_aliases_audit_id_audit_log"),
        sa.PrimaryKeyConstraint("alias_id", name="pk_customer_aliases"),
    )
    op.create_index("ix_customer_aliases_customer_id", "customer_aliases", ["customer_id"])
    op.create_table(
        "channel_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("key", sa.String(340), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_channel_identities_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_channel_identities"),
    )
    op.create_index("ix_channel_identities_customer_id", "channel_identities", ["customer_id"])
    op.create_index("ix_channel_identities_key", "channel_identities", ["key"])
    op.create_table(
        "identifier_owners",
        sa.Column("key", sa.String(340), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_identifier_owners_customer_id_customers"),
        sa.PrimaryKeyConstraint("key", name="pk_identifier_owners"),
    )
    op.create_index("ix_identifier_owners_customer_id", "identifier_owners", ["customer_id"])
    op.create_table(
        "identity_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(340), nullable=False),
        sa.Column("code_hash", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_identity_claims_customer_id_customers"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_claims"),
    )
    op.create_index("ix_identity_claims_customer_id", "identity_claims", ["customer_id"])


def downgrade() -> None:
    op.drop_table("identity_claims")
    op.drop_table("identifier_owners")
    op.drop_table("channel_identities")
    op.drop_table("customer_aliases")
    op.drop_table("audit_log")
    op.drop_table("customers")
