"""Bounce findings on deliveries, bounced addresses, and who a ticket's mail reached.

Revision ID: 0009_mail_loops
Revises: 0008_live_processes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0009_mail_loops"
down_revision = "0008_live_processes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
    with op.batch_alter_table("identities") as batch:
        batch.add_column(
            sa.Column("bounced_at", core.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("bounce_reason", sa.String(length=500), nullable=True))
    op.create_table(
        "ticket_addresses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_addresses_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_addresses")),
        sa.UniqueConstraint(
            "ticket_id",
            "channel",
            "address",
            name=op.f("uq_ticket_addresses_ticket_id_channel_address"),
        ),
    )
    op.create_index("ix_ticket_addresses_ticket_id", "ticket_addresses", ["ticket_id"])
    op.create_index("ix_ticket_addresses_address", "ticket_addresses", ["address"])


def downgrade() -> None:
    op.drop_index("ix_ticket_addresses_address", table_name="ticket_addresses")
    op.drop_index("ix_ticket_addresses_ticket_id", table_name="ticket_addresses")
    op.drop_table("ticket_addresses")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("bounce_reason")
        batch.drop_column("bounced_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("report")
