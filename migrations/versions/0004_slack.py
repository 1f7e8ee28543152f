"""Slack: card positions, posted messages per outbox key, seen events

Revision ID: 0004_slack
Revises: 0003_sla
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0004_slack"
down_revision = "0003_sla"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_cards",
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_slack_cards_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_slack_cards")),
    )
    op.create_index("ix_slack_cards_channel_ts", "slack_cards", ["channel", "ts"])
    op.create_table(
        "slack_posts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=40), nullable=True),
        sa.Column("thread_ts", sa.String(length=40), nullable=True),
        sa.Column("created_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_slack_posts")),
    )
    op.create_table(
        "slack_events",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=True),
        sa.Column("received_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_events")),
    )
    op.create_index("ix_slack_events_status", "slack_events", ["status"])


def downgrade() -> None:
    op.drop_index("ix_slack_events_status", table_name="slack_events")
    op.drop_table("slack_events")
    op.drop_table("slack_posts")
    op.drop_index("ix_slack_cards_channel_ts", table_name="slack_cards")
    op.drop_table("slack_cards")
