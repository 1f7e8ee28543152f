"""SLA clocks and escalation chains

Revision ID: 0003_sla
Revises: 0002_email
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0003_sla"
down_revision = "0002_email"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("sla_clock", sa.JSON(), nullable=True))
    op.create_table(
        "sla_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_events_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
    )
    op.create_index(op.f("ix_sla_events_ticket_id"), "sla_events", ["ticket_id"], unique=False)
    op.create_table(
        "escalations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("chain", sa.String(length=60), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("pings", sa.Integer(), nullable=False),
        sa.Column("next_step_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_escalations_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
    )
    op.create_index(op.f("ix_escalations_ticket_id"), "escalations", ["ticket_id"], unique=False)
    op.create_index(
        "ix_escalations_status_next", "escalations", ["status", "next_step_at"], unique=False
    )
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
    op.drop_index("ix_escalations_status_next", table_name="escalations")
    op.drop_index(op.f("ix_escalations_ticket_id"), table_name="escalations")
    op.drop_table("escalations")
    op.drop_index(op.f("ix_sla_events_ticket_id"), table_name="sla_events")
    op.drop_table("sla_events")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("sla_clock")
