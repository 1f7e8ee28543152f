"""tickets.sla_attention_at: when a ticket's SLA state turns at risk or breached

Revision ID: 0006_sla_attention
Revises: 0005_staff_identities

Filled for existing tickets by ``switchboard migrate`` (from the stored clocks).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models.base

revision = "0006_sla_attention"
down_revision = "0005_staff_identities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column(
                "sla_attention_at", core.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.create_index("ix_tickets_sla_attention", ["sla_attention_at"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_sla_attention")
        batch.drop_column("sla_attention_at")
