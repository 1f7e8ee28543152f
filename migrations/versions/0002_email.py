"""email channel: IMAP mailbox state, outbox index per recipient

Revision ID: 0002_email
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_indexes, create_table, drop_indexes, moment

revision = "0002_email"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "mailbox_states",
        big_id(),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("mailbox", sa.String(length=300), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        moment("lease_until", nullable=True),
        moment("updated_at"),
        unique=[("account", "mailbox")],
    )
    create_indexes("outbox", OUTBOX_RECIPIENT)


# Deliveries per recipient and channel, newest last: the auto-reply limit counts them.
OUTBOX_RECIPIENT = ("ix_outbox_recipient", "channel", "recipient", "created_at")


def downgrade() -> None:
    drop_indexes("outbox", OUTBOX_RECIPIENT)
    op.drop_table("mailbox_states")
