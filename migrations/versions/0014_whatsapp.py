"""WhatsApp: each client number's customer-service window, and what was sent per outbox key

Revision ID: 0014_whatsapp
Revises: 0013_kpis
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import create_indexes, create_table, drop_indexes, moment

revision = "0014_whatsapp"
down_revision = "0013_kpis"


def upgrade() -> None:
    create_table(
        "whatsapp_chats",
        sa.Column("number", sa.String(32), nullable=False),
        moment("last_client_at"),
        moment("updated_at"),
        key=["number"],
    )
    create_table(
        "whatsapp_sends",
        sa.Column("key", sa.String(220), nullable=False),
        sa.Column("wamid", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        moment("created_at"),
        key=["key"],
    )
    create_indexes("whatsapp_sends", SENDS_BY_WAMID)


SENDS_BY_WAMID = ("ix_whatsapp_sends_wamid", "wamid")


def downgrade() -> None:
    drop_indexes("whatsapp_sends", SENDS_BY_WAMID)
    op.drop_table("whatsapp_sends")
    op.drop_table("whatsapp_chats")
