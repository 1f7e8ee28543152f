"""The desk's workflow rules: when a ticket's next rule is due, and follow-ups

Revision ID: 0019_rules
Revises: 0018_privacy
Create Date: 2026-12-01 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0019_rules"
down_revision = "0018_privacy"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = core.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("rule_due_at", When, nullable=True))
        batch.add_column(sa.Column("rule_state", sa.JSON(), nullable=True))
    op.create_index("ix_tickets_rule_due", "tickets", ["rule_due_at"])
    op.create_table(
        "follow_ups",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("done_at", When, nullable=True),
        sa.Column("done_by", sa.String(length=120), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_follow_ups_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_follow_ups_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("ticket_id", "key", name=op.f("uq_follow_ups_ticket_idkey")),
    )
    op.create_index("ix_follow_ups_agent_status", "follow_ups", ["agent_id", "status"])
    op.create_index("ix_follow_ups_status", "follow_ups", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_status", table_name="follow_ups")
    op.drop_index("ix_follow_ups_agent_status", table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index("ix_tickets_rule_due", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("rule_state")
        batch.drop_column("rule_due_at")
