"""WhatsApp: each client number's customer-service window, and what was sent per outbox key

Revision ID: 0014_whatsapp
Revises: 0013_kpis
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0014_whatsapp"
down_revision = "0013_kpis"
branch_labels = None
depends_on = None

UTC = core.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "whatsapp_chats",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("last_client_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
    )
    op.create_table(
        "whatsapp_sends",
        sa.Column("key", sa.String(220), primary_key=True),
        sa.Column("wamid", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
    )
    op.create_index("ix_whatsapp_sends_wamid", "whatsapp_sends", ["wamid"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_sends_wamid", table_name="whatsapp_sends")
    op.drop_table("whatsapp_sends")
    op.drop_table("whatsapp_chats")
