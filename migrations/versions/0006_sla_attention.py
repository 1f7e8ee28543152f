"""tickets.sla_attention_at: when a ticket's SLA state turns at risk or breached

Revision ID: 0006_sla_attention
Revises: 0005_staff_identities

Filled for existing tickets by ``switchboard migrate`` (from the stored clocks).
"""

from __future__ import annotations

from alembic import op

from migrations.schema import moment

revision = "0006_sla_attention"
down_revision = "0005_staff_identities"


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(moment("sla_attention_at", nullable=True))
        batch.create_index("ix_tickets_sla_attention", ["sla_attention_at"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_sla_attention")
        batch.drop_column("sla_attention_at")
