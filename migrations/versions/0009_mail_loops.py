"""Bounce findings on deliveries, bounced addresses, and who a ticket's mail reached.

Revision ID: 0009_mail_loops
Revises: 0008_live_processes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_indexes, create_table, drop_indexes, moment

revision = "0009_mail_loops"
down_revision = "0008_live_processes"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))
    with op.batch_alter_table("identities") as batch:
        batch.add_column(moment("bounced_at", nullable=True))
        batch.add_column(sa.Column("bounce_reason", sa.String(length=500), nullable=True))
    create_table(
        "ticket_addresses",
        big_id(),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        moment("created_at"),
        refs=[("ticket_id", "tickets")],
        unique=[("ticket_id", "channel", "address")],
    )
    create_indexes("ticket_addresses", *ADDRESS_INDEXES)


ADDRESS_INDEXES = (
    ("ix_ticket_addresses_ticket_id", "ticket_id"),
    ("ix_ticket_addresses_address", "address"),
)


def downgrade() -> None:
    drop_indexes("ticket_addresses", *ADDRESS_INDEXES)
    op.drop_table("ticket_addresses")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("bounce_reason")
        batch.drop_column("bounced_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("report")
