"""SLA clocks and escalation chains

Revision ID: 0003_sla
Revises: 0002_email
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_indexes, create_table, drop_indexes, moment

revision = "0003_sla"
down_revision = "0002_email"

ESCALATION_INDEXES = ("ticket_id", ("ix_escalations_status_next", "status", "next_step_at"))


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("sla_clock", sa.JSON(), nullable=True))
    create_table(
        "sla_events",
        big_id(),
        big_id("ticket_id"),
        moment("at"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        refs=[("ticket_id", "tickets")],
    )
    create_indexes("sla_events", "ticket_id")
    create_table(
        "escalations",
        big_id(),
        big_id("ticket_id"),
        sa.Column("chain", sa.String(length=60), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("pings", sa.Integer(), nullable=False),
        moment("next_step_at", nullable=True),
        moment("started_at"),
        moment("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        refs=[("ticket_id", "tickets")],
    )
    create_indexes("escalations", *ESCALATION_INDEXES)
    op.create_index(
        "uq_escalations_active_ticket",
        "escalations",
        ["ticket_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("uq_escalations_active_ticket", table_name="escalations")
    drop_indexes("escalations", *ESCALATION_INDEXES)
    op.drop_table("escalations")
    drop_indexes("sla_events", "ticket_id")
    op.drop_table("sla_events")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("sla_clock")
