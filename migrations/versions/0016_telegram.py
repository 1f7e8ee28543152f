"""Telegram: the long-polling offset, parts sent per outbox key, agents' link codes

Revision ID: 0016_telegram
Revises: 0015_idempotency_keys

``telegram_polls`` keeps the next update_id to ask getUpdates for (moved only
past updates already stored); ``telegram_sent`` one row per part of a delivery
sent to a chat, so a retry never sends a part twice; ``telegram_link_codes`` the
HMACs of the one-time codes agents link their Telegram account with.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_table, moment

revision = "0016_telegram"
down_revision = "0015_idempotency_keys"


def upgrade() -> None:
    create_table(
        "telegram_polls",
        sa.Column("bot_id", sa.String(40), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        moment("updated_at"),
        key=["bot_id"],
    )
    create_table(
        "telegram_sent",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.String(40), nullable=False),
        moment("created_at"),
        key=["key", "part"],
    )
    op.create_table(
        "telegram_link_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        big_id("agent_id"),
        sa.Column("code_hash", sa.String(64), nullable=False),
        moment("expires_at"),
        moment("used_at", nullable=True),
        moment("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_telegram_link_codes"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_telegram_link_codes_agent_id_agents"
        ),
        sa.UniqueConstraint("code_hash", name="uq_telegram_link_codes_code_hash"),
    )
    op.create_index("ix_telegram_link_codes_agent_id", "telegram_link_codes", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_telegram_link_codes_agent_id", table_name="telegram_link_codes")
    op.drop_table("telegram_link_codes")
    op.drop_table("telegram_sent")
    op.drop_table("telegram_polls")
