"""live_processes, and which process claimed an outbox row

Revision ID: 0008_live_processes
Revises: 0007_slack_events_inbound

A row being sent names its process; once that process is no longer seen, the
row is free again in seconds (before: a 5-minute lease, and a killed worker's
whole batch re-sent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import moment

revision = "0008_live_processes"
down_revision = "0007_slack_events_inbound"


def upgrade() -> None:
    op.create_table(
        "live_processes",
        sa.Column("id", sa.String(length=80), primary_key=True),
        sa.Column("role", sa.String(length=40), nullable=False),
        moment("started_at"),
        moment("seen_at"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("live_processes")
