"""Slack: card positions, posted messages per outbox key, seen events

Revision ID: 0004_slack
Revises: 0003_sla
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import (
    big_id,
    create_indexes,
    create_slack_events,
    create_table,
    drop_indexes,
    drop_slack_events,
    moment,
    stamps,
)

revision = "0004_slack"
down_revision = "0003_sla"


def upgrade() -> None:
    create_table(
        "slack_cards",
        big_id("ticket_id"),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=True),
        *stamps(),
        refs=[("ticket_id", "tickets")],
        key=["ticket_id"],
    )
    create_indexes("slack_cards", CARD_POSITION)
    create_table(
        "slack_posts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=True),
        sa.Column("thread_ts", sa.String(length=40), nullable=True),
        moment("created_at"),
        key=["key"],
    )
    create_slack_events()


CARD_POSITION = ("ix_slack_cards_channel_ts", "channel", "ts")


def downgrade() -> None:
    drop_slack_events()
    op.drop_table("slack_posts")
    drop_indexes("slack_cards", CARD_POSITION)
    op.drop_table("slack_cards")
