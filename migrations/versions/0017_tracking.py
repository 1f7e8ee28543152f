"""Clients on the web: when a hold is looked at again, and the portal form's sendings

Revision ID: 0017_tracking
Revises: 0016_telegram
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.schema import big_id, create_indexes, create_table, drop_indexes, moment

revision = "0017_tracking"
down_revision = "0016_telegram"

# Sendings per address and per client IP, newest last: the portal's limits count them.
PORTAL_INDEXES = (
    ("ix_portal_submissions_email", "email", "created_at"),
    ("ix_portal_submissions_ip", "ip", "created_at"),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(moment("hold_until", nullable=True))
    create_table(
        "portal_submissions",
        big_id(),
        sa.Column("form_key", sa.String(length=64), nullable=False),
        big_id("ticket_id"),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        moment("created_at"),
        refs=[("ticket_id", "tickets")],
        unique=[("form_key",)],
    )
    create_indexes("portal_submissions", *PORTAL_INDEXES)


def downgrade() -> None:
    drop_indexes("portal_submissions", *PORTAL_INDEXES)
    op.drop_table("portal_submissions")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("hold_until")
